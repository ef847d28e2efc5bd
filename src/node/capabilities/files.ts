import { isAbsolute } from 'node:path';
import { lstatSync } from 'node:fs';
import type { Logger } from 'pino';
import { TesseraError } from '../../errors/index.js';
import type { BlobStore } from '../../files/blob-store.js';
import { LocalBlobStore } from '../../files/blobs.js';
import { NatsBlobStore } from '../../files/nats-blobs.js';
import { natsTls } from '../../cluster/nats-connection.js';
import type { TesseraConfig } from '../config-schema.js';
import { FileService } from '../../files/service.js';
import { KeyService } from '../../kms/service.js';
import { fileRoutes } from '../../http/routes/files.js';
import { kms } from '../../wire/kms.js';
import { tdfsExternal, tdfsInternal } from '../../wire/tdfs.js';
import type { Capability } from '../capability.js';

// Keys (KMS) and files (TDFS and /v1/files): the sealed per-file keys, and the file store whose content is
// verified as it streams in.

export function kmsCapability(): Capability {
  return {
    name: 'kms',
    start(ctx) {
      ctx.services.keys = new KeyService(ctx.store, ctx.masterKey);
    },
    wire: (ctx) => ({ kms: kms(ctx.need('keys')) }),
  };
}

/** wire.mesatee_v01_file_dir, checked: off when empty; else an absolute path to an existing directory. */
function v01FileDir(dir: string, logger: Logger): string | undefined {
  if (dir === '') return undefined;
  if (!isAbsolute(dir)) throw new TesseraError('invalid_input', `wire.mesatee_v01_file_dir must be an absolute path, not '${dir}'`);
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    throw new TesseraError('invalid_input', `wire.mesatee_v01_file_dir ${dir} cannot be used: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new TesseraError('invalid_input', `wire.mesatee_v01_file_dir ${dir} is not a directory (a symbolic link is not followed)`);
  if ((st.mode & 0o077) !== 0) {
    logger.warn({ dir, mode: (st.mode & 0o777).toString(8) }, 'wire.mesatee_v01_file_dir is open to group or others: anyone who can write it can make v0.1 uploads fail (not forge them); make it 0700');
  }
  logger.warn({ dir }, 'MesaTEE v0.1 compatibility mode (wire.mesatee_v01_file_dir): wire TDFS Create returns file paths in this directory');
  return dir;
}

const urlHost = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip);

/** The blob store files.blob_store names: the data directory's, or the JetStream object store a cluster shares. */
async function openBlobStore(config: TesseraConfig, localDir: string, name: string): Promise<BlobStore> {
  if (config.files.blob_store === 'local') return new LocalBlobStore(localDir);
  const { nats } = config;
  if (!nats.url) throw new TesseraError('invalid_input', 'files.blob_store = "nats" needs nats.url (e.g. tls://127.0.0.1:4222)');
  return NatsBlobStore.open({ servers: nats.url, tls: natsTls(nats), bucket: nats.bucket, replicas: nats.replicas, timeoutMs: nats.timeout_ms, name });
}

export function filesCapability(): Capability {
  let sweeper: NodeJS.Timeout | undefined;
  let blobs: BlobStore | undefined;
  return {
    name: 'files',
    async start(ctx) {
      const { config, logger, paths, addresses } = ctx;
      blobs = await openBlobStore(config, paths.blobs, `tessera node ${ctx.ledger.id.slice(0, 16)}`);
      const files = new FileService({
        store: ctx.store,
        keys: ctx.need('keys'),
        blobs,
        nodeId: ctx.ledger.id,
        maxFileBytes: config.files.max_file_bytes,
        maxFunctionInputBytes: config.files.max_function_input_bytes,
        quota: { files: config.files.max_files_per_user, bytes: config.files.max_bytes_per_user },
        pendingTtlMs: config.files.pending_ttl_s * 1000,
        accessPath: (fileId) => {
          const https = addresses.https;
          if (!https) throw new TesseraError('unavailable', 'file content moves over the HTTPS listener, which is disabled (http.enabled)');
          return `https://${urlHost(config.node.advertise_ip)}:${https.port}/v1/files/${fileId}/content`;
        },
        v01FileDir: v01FileDir(config.wire.mesatee_v01_file_dir, logger),
        logger,
      });
      ctx.services.files = files;
      const swept = files.sweepIncomplete();
      if (swept) logger.warn({ files: swept }, 'uploads cut off by the last shutdown were removed');
      // Files created and never uploaded do not pile up (nor count against their owner's quota) for ever.
      const sweepPending = () => {
        try {
          const n = files.sweepPending();
          if (n) logger.info({ files: n }, `files created but not uploaded within files.pending_ttl_s were removed`);
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'could not sweep pending files');
        }
      };
      sweepPending();
      sweeper = setInterval(sweepPending, Math.min(600_000, config.files.pending_ttl_s * 1000));
      sweeper.unref();
    },
    routes: (app, ctx) => fileRoutes(app, ctx.need('files')),
    wire: (ctx) => ({ tdfs_external: tdfsExternal(ctx.need('files'), ctx.principals), tdfs_internal: tdfsInternal(ctx.need('files')) }),
    stop() {
      clearInterval(sweeper);
    },
    async close() {
      if (blobs instanceof NatsBlobStore) await blobs.close();
    },
  };
}
