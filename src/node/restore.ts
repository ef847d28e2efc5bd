import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { TesseraError } from '../errors/index.js';
import { SCHEMA_VERSION } from '../store/schema.js';
import { checkStoreFile } from '../store/snapshot.js';
import { sealingKeyPath, unsealMasterKey } from '../kms/master-key.js';
import { type BackupManifest, MANIFEST_NAME, parseManifest } from './backup-manifest.js';
import { loadConfig } from './config.js';
import { dataDirPaths } from './datadir.js';

// `tessera restore` (docs/backup.md): unpacks a backup into a new data directory. Everything is unpacked
// beside the target first and checked against the manifest (every file there, none more, each of its size and
// SHA-256), and SQLite checks the store; only then is the folder renamed into place. A damaged backup leaves
// nothing behind. The data stays sealed: the node that starts on it needs the sealing key of the node that
// made it.

export interface RestoreReport {
  dir: string;
  files: number;
  bytes: number;
  manifest: BackupManifest;
  /** Whether the sealing key a node would use here opens the restored master key; if not, why. */
  sealingKey: { path: string; opens: boolean; why?: string };
}

/** Tries the sealing key a node started on `dir` would use (its kms.sealing_key_file, else the usual places). */
function trySealingKey(dir: string): RestoreReport['sealingKey'] {
  const paths = dataDirPaths(dir);
  let path = '';
  try {
    path = sealingKeyPath(loadConfig(paths.config).kms.sealing_key_file);
    unsealMasterKey(paths.sealedMasterKey, path);
    return { path, opens: true };
  } catch (err) {
    return { path, opens: false, why: (err as Error).message };
  }
}

/** A tar entry's name as a safe relative path, or a refusal: nothing may land outside the target. */
function safeName(name: string, from: string): string {
  const clean = posix.normalize(name);
  if (name.includes('\0') || posix.isAbsolute(name) || clean.startsWith('../') || clean === '..' || clean === '.' || clean !== name) {
    throw new TesseraError('invalid_input', `${from} is not a Tessera backup: it holds the entry '${name}', which is not a plain relative path`);
  }
  return clean;
}

function checkTarget(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new TesseraError('invalid_input', `${dir} is a file; restore into a new or empty folder`);
  if (readdirSync(dir).length) throw new TesseraError('invalid_input', `${dir} is not empty; restore into a new or empty folder (a restore never writes over data)`);
}

export async function restoreDataDir(opts: { from: string; dir: string; onProgress?: (done: number, total: number) => void }): Promise<RestoreReport> {
  const from = resolve(opts.from);
  if (!existsSync(from)) throw new TesseraError('not_found', `no backup at ${opts.from}`);
  if (!statSync(from).isFile()) throw new TesseraError('invalid_input', `${opts.from} is not a file; --from takes the file 'tessera backup' wrote`);
  const target = resolve(opts.dir);
  checkTarget(target);
  try {
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new TesseraError('invalid_input', `cannot restore into ${opts.dir}: ${dirname(target)} cannot be made (${(err as NodeJS.ErrnoException).code})`);
  }
  let staging: string;
  try {
    staging = mkdtempSync(join(dirname(target), `.${basename(target)}.restore-`));
  } catch (err) {
    throw new TesseraError('invalid_input', `cannot restore into ${opts.dir}: ${dirname(target)} is not writable (${(err as NodeJS.ErrnoException).code})`);
  }
  let moved = false;
  try {
    const total = statSync(from).size;
    let read = 0;
    const found = new Map<string, { bytes: number; sha256: string }>();
    let manifestBytes: Buffer | undefined;
    const extract = tar.extract();
    const source = createReadStream(from);
    source.on('data', (chunk) => {
      read += chunk.length;
      opts.onProgress?.(read, total);
    });
    source.pipe(extract);
    source.on('error', (err) => extract.destroy(err));
    try {
      for await (const entry of extract) {
        const h = entry.header;
        if (h.type === 'directory') {
          entry.resume();
          continue;
        }
        const name = safeName(h.name, opts.from);
        if (h.type !== 'file') throw new TesseraError('invalid_input', `${opts.from} is not a Tessera backup: its entry '${name}' is a ${h.type}, and a backup holds only files`);
        if (found.has(name) || (name === MANIFEST_NAME && manifestBytes)) throw new TesseraError('invalid_input', `${opts.from} is damaged: '${name}' appears twice; nothing was restored`);
        if (name === MANIFEST_NAME) {
          const chunks: Buffer[] = [];
          for await (const c of entry) chunks.push(c as Buffer);
          manifestBytes = Buffer.concat(chunks);
          continue;
        }
        const hash = createHash('sha256');
        let bytes = 0;
        const tap = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            bytes += chunk.length;
            cb(null, chunk);
          },
        });
        mkdirSync(dirname(join(staging, name)), { recursive: true, mode: 0o700 });
        await pipeline(entry, tap, createWriteStream(join(staging, name), { flags: 'wx', mode: 0o600 }));
        found.set(name, { bytes, sha256: hash.digest('hex') });
      }
    } catch (err) {
      if (err instanceof TesseraError) throw err;
      throw new TesseraError('invalid_input', `${opts.from} is not a readable Tessera backup (${(err as Error).message}); nothing was restored`);
    }
    if (!manifestBytes) throw new TesseraError('invalid_input', `${opts.from} is not a Tessera backup, or was cut short: it has no ${MANIFEST_NAME}; nothing was restored`);
    const manifest = parseManifest(manifestBytes, opts.from);
    for (const f of manifest.files) {
      const got = found.get(f.path);
      if (!got) throw new TesseraError('invalid_input', `${opts.from} is damaged: ${f.path} is missing from it; nothing was restored`);
      if (got.bytes !== f.bytes || got.sha256 !== f.sha256) {
        throw new TesseraError('invalid_input', `${opts.from} is damaged: ${f.path} does not match its digest in the manifest (SHA-256 ${got.sha256.slice(0, 16)}…, expected ${f.sha256.slice(0, 16)}…); nothing was restored`);
      }
      found.delete(f.path);
    }
    if (found.size) throw new TesseraError('invalid_input', `${opts.from} is damaged: it holds ${[...found.keys()][0]}, which its manifest does not list; nothing was restored`);
    if (manifest.schema_version > SCHEMA_VERSION) {
      throw new TesseraError('invalid_input', `${opts.from} holds a store at schema version ${manifest.schema_version}, made by Tessera ${manifest.tessera_version}; this Tessera knows versions up to ${SCHEMA_VERSION}: restore it with that version or newer`);
    }
    if (!manifest.files.some((f) => f.path === 'store.sqlite')) throw new TesseraError('invalid_input', `${opts.from} is not a Tessera backup: it holds no store.sqlite`);
    const check = checkStoreFile(join(staging, 'store.sqlite'));
    if (check !== 'ok') throw new TesseraError('invalid_input', `${opts.from} is damaged: SQLite finds its store inconsistent (${check}); nothing was restored`);
    checkTarget(target);
    if (existsSync(target)) rmdirSync(target);
    renameSync(staging, target);
    moved = true;
    return { dir: target, files: manifest.files.length, bytes: manifest.files.reduce((a, f) => a + f.bytes, 0), manifest, sealingKey: trySealingKey(target) };
  } finally {
    if (!moved) rmSync(staging, { recursive: true, force: true });
  }
}
