// Ciphertext blobs in a NATS JetStream object store, shared by every node connected to it (issue 22).
//
// How the object store lays out an object (from @nats-io/obj 3.x, lib/objectstore.js, and the NATS ADR-20
// "JetStream based Object Stores"): the bucket is the stream OBJ_<bucket>; an object's bytes are chunk
// messages on $O.<bucket>.C.<nuid>, and the object exists, under its name, only through one metadata
// message on $O.<bucket>.M.<base64url(name)>, published (with a subject roll-up) AFTER the last chunk was
// acknowledged. That single publish is the commit point, and it is atomic.
//
// So an upload is put straight under its final name, with the verifier upstream of the stream the put
// reads: the put sees the end of its input only when CiphertextVerifier's flush passed (length, GCM tag,
// plaintext SHA-256), and fails, without publishing the metadata, when the verifier fails. Chunks already
// sent are then purged by the client library; if even that fails (NATS gone), they stay as unnamed
// chunks that no reader can reach, and sweepIncoming() removes them later. A temporary name plus
// update()/link() would not be more atomic: update() re-publishes the metadata under the new name and
// then purges the old name's subject (two steps), and a link is a second object pointing at the first.
import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { connect } from '@nats-io/transport-node';
import { type JetStreamClient, type JetStreamManager, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm, type ObjectInfo, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/nats-core';
import { TesseraError } from '../errors/index.js';
import type { BlobStore, Expected } from './blob-store.js';
import { CiphertextVerifier, STREAM_BUFFER } from './blobs.js';

export interface NatsBlobStoreOptions {
  /** The server URL(s), e.g. tls://nats.example:4222. */
  servers: string | string[];
  /** PEM text. With cert and key, the node proves itself to a server run with --tlsverify. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** The object store bucket (stream OBJ_<bucket>); letters, digits, '-' and '_'. Default 'tessera-blobs'. */
  bucket?: string;
  /** JetStream replicas of the bucket when this node creates it (a cluster wants 3). Default 1. */
  replicas?: number;
  /** The bucket's size bound in bytes when this node creates it (JetStream's max_bytes). Default none. */
  maxBytes?: number;
  /** The bound on connecting and on every JetStream request (each chunk's acknowledgement). Default 5000 ms. */
  timeoutMs?: number;
  /** Bytes per chunk message (the server's max_payload bounds it, 1 MiB by default). Default 128 KiB. */
  chunkBytes?: number;
  /** Chunks fetched per request when reading: what a read holds in memory is about chunkBytes × this. Default 8. */
  readBatch?: number;
  /** A chunk set without a name that has been idle this long is dropped by sweepIncoming(). Default an hour. */
  orphanGraceMs?: number;
  /** The connection's name, as the server's monitoring shows it. */
  name?: string;
}

const DEFAULT_BUCKET = 'tessera-blobs';
const FILE_ID = /^[0-9a-f-]{36}$/;

export class NatsBlobStore implements BlobStore {
  private readonly stream: string;
  private readonly timeoutMs: number;
  private readonly chunkBytes: number;
  private readonly readBatch: number;
  private readonly orphanGraceMs: number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly os: ObjectStore,
    readonly bucket: string,
    private readonly where: string,
    opts: NatsBlobStoreOptions,
  ) {
    this.stream = `OBJ_${bucket}`;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.chunkBytes = opts.chunkBytes ?? 128 * 1024;
    this.readBatch = opts.readBatch ?? 8;
    this.orphanGraceMs = opts.orphanGraceMs ?? 3_600_000;
  }

  /** Connects and opens (creating if needed) the bucket; 'unavailable' when the server cannot be reached in time. */
  static async open(opts: NatsBlobStoreOptions): Promise<NatsBlobStore> {
    const bucket = opts.bucket ?? DEFAULT_BUCKET;
    if (!/^[A-Za-z0-9_-]+$/.test(bucket)) throw new TesseraError('invalid_input', `'${bucket}' is not a NATS object store bucket name (letters, digits, '-' and '_')`);
    const servers = Array.isArray(opts.servers) ? opts.servers : [opts.servers];
    const where = `NATS at ${servers.join(', ')}`;
    const timeout = opts.timeoutMs ?? 5000;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        name: opts.name ?? 'tessera-blobs',
        timeout,
        // After the first connection, keep reconnecting: a restarted server is found again, and while it is
        // away every request ends after `timeout` with 'unavailable' instead of waiting.
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        ...(opts.tls ? { tls: { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key } } : {}),
      });
    } catch (err) {
      throw new TesseraError('unavailable', `the blob store could not connect to ${where}: ${(err as Error).message}`, { cause: err, retryAfterSeconds: 5 });
    }
    try {
      const js = jetstream(nc, { timeout });
      const jsm = await jetstreamManager(nc, { timeout });
      const os = await new Objm(js).create(bucket, {
        storage: StorageType.File,
        replicas: opts.replicas ?? 1,
        ...(opts.maxBytes ? { max_bytes: opts.maxBytes } : {}),
      });
      return new NatsBlobStore(nc, js, jsm, os, bucket, where, opts);
    } catch (err) {
      await nc.close().catch(() => {});
      throw mapError(err, where, `the object store bucket '${bucket}' could not be opened`);
    }
  }

  /** Closes the connection; the store cannot be used afterwards. */
  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }

  private name(fileId: string): string {
    if (!FILE_ID.test(fileId)) throw new TesseraError('invalid_input', `'${fileId}' is not a file id`);
    return fileId;
  }

  async writeVerified(fileId: string, source: Readable, expected: Expected): Promise<void> {
    const name = this.name(fileId);
    const verifier = new CiphertextVerifier(expected);
    let streamError: unknown;
    let verified = false;
    verifier.once('end', () => (verified = true));
    // pipeline: a failing source destroys the verifier and vice versa; the error is kept to report it.
    pipeline(source, verifier, (err) => {
      if (err) streamError ??= err;
    });
    // Readable.toWeb pulls from the verifier only as the put asks for more, and the put asks only after
    // the previous chunk's publish was acknowledged: memory stays bounded by a chunk plus the stream buffers.
    const input = Readable.toWeb(verifier) as unknown as WebReadableStream<Uint8Array>;
    try {
      await this.os.put({ name, options: { max_chunk_size: this.chunkBytes } }, input as unknown as ReadableStream<Uint8Array>, { timeout: this.timeoutMs });
    } catch (err) {
      const cause = streamError;
      verifier.destroy();
      if (cause instanceof TesseraError) throw cause;
      if (cause !== undefined) {
        throw new TesseraError('invalid_input', `the upload was cut off before it completed (${(cause as Error).message}); nothing was stored`);
      }
      // The store failed. If verification had passed, the metadata may have landed with its acknowledgement
      // lost: take the name away again (best effort; the file service removes it too when it abandons the file).
      if (verified) await this.os.delete(name).catch(() => {});
      throw mapError(err, this.where, `the upload of file ${fileId} was not stored`);
    }
  }

  async writeBuffer(fileId: string, data: Buffer): Promise<void> {
    const name = this.name(fileId);
    try {
      await this.os.put({ name, options: { max_chunk_size: this.chunkBytes } }, Readable.toWeb(Readable.from([data], { objectMode: false })) as unknown as ReadableStream<Uint8Array>, { timeout: this.timeoutMs });
    } catch (err) {
      throw mapError(err, this.where, `file ${fileId} was not stored`);
    }
  }

  openRead(fileId: string): Readable {
    return Readable.from(this.chunks(fileId), { objectMode: false, highWaterMark: STREAM_BUFFER });
  }

  /**
   * The object's chunks, fetched `readBatch` at a time through an ordered pull consumer: the next batch is
   * asked for only when the reader has taken the previous one, so a slow reader holds back the server
   * instead of filling memory. (ObjectStore.get() is not used for this reason: it pushes every chunk into
   * a web stream without waiting for its reader.) The object store's SHA-256 digest and size are checked
   * at the end, as get() does.
   */
  private async *chunks(fileId: string): AsyncGenerator<Buffer> {
    const name = this.name(fileId);
    const info = await this.liveInfo(name, `file ${fileId} could not be read`);
    if (!info) throw new TesseraError('not_found', `there is no blob for file ${fileId} in bucket '${this.bucket}'`);
    if (info.size === 0) return;
    let consumer;
    try {
      consumer = await this.js.consumers.get(this.stream, { filter_subjects: `$O.${this.bucket}.C.${info.nuid}` });
    } catch (err) {
      throw mapError(err, this.where, `file ${fileId} could not be read`);
    }
    const sha = createHash('sha256');
    let size = 0;
    try {
      for (let remaining = info.chunks; remaining > 0; ) {
        const want = Math.min(remaining, this.readBatch);
        let got = 0;
        try {
          const batch = await consumer.fetch({ max_messages: want, expires: Math.max(this.timeoutMs, 1000) });
          for await (const m of batch) {
            got++;
            const chunk = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
            sha.update(chunk);
            size += chunk.length;
            yield chunk;
          }
        } catch (err) {
          throw mapError(err, this.where, `file ${fileId} could not be read`);
        }
        if (got === 0) throw new TesseraError('unavailable', `${this.where} sent no chunk of file ${fileId} within ${this.timeoutMs} ms; the read was abandoned`, { retryAfterSeconds: 5 });
        remaining -= got;
      }
    } finally {
      consumer.delete().catch(() => {});
    }
    const digest = `SHA-256=${sha.digest('base64url')}`;
    if (size !== info.size || digest.replace(/=+$/, '') !== info.digest.replace(/=+$/, '')) {
      throw new TesseraError('internal', `the blob of file ${fileId} in bucket '${this.bucket}' is corrupt: ${size} bytes with digest ${digest}, recorded ${info.size} bytes with ${info.digest}`);
    }
  }

  async read(fileId: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of this.openRead(fileId)) parts.push(chunk as Buffer);
    return Buffer.concat(parts);
  }

  async remove(fileId: string): Promise<void> {
    const name = this.name(fileId);
    try {
      await this.os.delete(name);
    } catch (err) {
      throw mapError(err, this.where, `the blob of file ${fileId} was not removed`);
    }
  }

  async size(fileId: string): Promise<number | undefined> {
    return (await this.liveInfo(this.name(fileId), `the size of file ${fileId} could not be read`))?.size;
  }

  private async liveInfo(name: string, what: string): Promise<ObjectInfo | undefined> {
    let info: ObjectInfo | null;
    try {
      info = await this.os.info(name);
    } catch (err) {
      throw mapError(err, this.where, what);
    }
    return info && !info.deleted ? info : undefined;
  }

  /**
   * Drops chunk sets that no object names (uploads whose put failed and whose own cleanup could not reach
   * the server) once idle for orphanGraceMs. The grace matters: another node's upload in progress also
   * has chunks without a name yet, but it keeps adding to them.
   */
  async sweepIncoming(now = Date.now()): Promise<number> {
    try {
      const named = new Set((await this.os.list()).map((i) => i.nuid));
      const prefix = `$O.${this.bucket}.C.`;
      const si = await this.jsm.streams.info(this.stream, { subjects_filter: `${prefix}>` });
      let dropped = 0;
      for (const subject of Object.keys(si.state.subjects ?? {})) {
        if (named.has(subject.slice(prefix.length))) continue;
        const last = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
        if (last && now - last.time.getTime() < this.orphanGraceMs) continue;
        await this.jsm.streams.purge(this.stream, { filter: subject });
        dropped++;
      }
      return dropped;
    } catch (err) {
      throw mapError(err, this.where, 'unfinished uploads could not be swept');
    }
  }

  /** The node's disk holds none of these blobs, so there is no disk reserve to hold. */
  ensureReserve(): void {}

  releaseReserve(): boolean {
    return false;
  }
}

/** A NATS client failure as the one error callers see: full storage is 507, anything else the server's absence, 503. */
function mapError(err: unknown, where: string, what: string): TesseraError {
  if (err instanceof TesseraError) return err;
  const message = (err as Error)?.message ?? String(err);
  // JetStream's own words when a stream or account is out of room (nats-server's errors.json:
  // "insufficient resources", "maximum bytes exceeded", "resource limits exceeded for account").
  if (/insufficient resources|maximum bytes|limits exceeded|no space/i.test(message)) {
    return new TesseraError('insufficient_storage', `the shared blob store (${where}) is full: ${what} (${message})`, { cause: err });
  }
  return new TesseraError('unavailable', `the shared blob store (${where}) did not answer: ${what} (${message})`, { cause: err, retryAfterSeconds: 5 });
}
