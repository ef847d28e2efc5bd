import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, createReadStream, createWriteStream, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { TesseraError } from '../errors/index.js';
import { snapshotStore } from '../store/snapshot.js';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, type BackupEntry, type BackupManifest, MANIFEST_NAME } from './backup-manifest.js';
import { dataDirPaths } from './datadir.js';
import { VERSION } from './version.js';

// `tessera backup` (docs/backup.md): an online, consistent copy of a data directory, still sealed. What is
// copied is named here, not found by listing the directory: never the sealing key (it is not in the data
// directory), never credentials (DATA-identities, or the old DATA/identities), never the store's WAL (the
// snapshot is a whole database), never what another helper leaves there at run time.

export interface BackupReport {
  out: string;
  files: number;
  bytes: number;
  schemaVersion: number;
  lastSeqno: number;
}

/** The data directory's single files that a backup holds, those that exist (the platform key may not). */
const SINGLE_FILES = ['tessera.toml', 'master.key.sealed', 'platform.key.sealed', 'ca.pem', 'ca.key.sealed', join('node', 'cert.pem'), join('node', 'key.sealed')];

/** Where a write to `out` failed, in one line. */
function outError(out: string, err: NodeJS.ErrnoException): TesseraError {
  const folder = dirname(out);
  switch (err.code) {
    case 'EEXIST':
      return new TesseraError('invalid_input', `cannot write the backup to ${out}: a file is in the way (${out}.partial, left by a backup that was cut off?); remove it`);
    case 'ENOENT':
      return new TesseraError('invalid_input', `cannot write the backup to ${out}: the folder ${folder} does not exist`);
    case 'ENOTDIR':
      return new TesseraError('invalid_input', `cannot write the backup to ${out}: ${folder} is not a folder`);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new TesseraError('invalid_input', `cannot write the backup to ${out}: ${folder} is not writable (${err.code})`);
    case 'ENOSPC':
    case 'EDQUOT':
      return new TesseraError('insufficient_storage', `cannot write the backup to ${out}: the disk is full`);
    default:
      return new TesseraError('internal', `cannot write the backup to ${out}: ${err.message}`);
  }
}

/**
 * Hard-links every file of `from` (not its dot-files: an upload in progress, the disk-space reserve; nor a
 * package's `.tmp` file, which is still being written) into
 * `to`, skipping those already there. Blobs and packages are written once, to a temporary name, then renamed
 * into place and never changed, so a link is the file as it will ever be, and it outlives a delete by the node.
 * Where the file system refuses links, the file is copied.
 */
function linkFiles(from: string, to: string): void {
  if (!existsSync(from)) return;
  mkdirSync(to, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(from)) {
    if (name.startsWith('.') || name.endsWith('.tmp')) continue;
    const src = join(from, name);
    const dst = join(to, name);
    if (existsSync(dst)) continue;
    let st;
    try {
      st = lstatSync(src);
    } catch {
      continue; // removed by the node since it was listed: the snapshot decides whether it is needed
    }
    if (!st.isFile()) continue;
    try {
      linkSync(src, dst);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code === 'EPERM' || code === 'EXDEV' || code === 'ENOTSUP' || code === 'EMLINK') copyFileSync(src, dst);
      else throw err;
    }
  }
}

/** Copies a folder tree of plain files (workflow resources' files, which change in place): as they are now. */
function copyTree(from: string, to: string): void {
  if (!existsSync(from)) return;
  mkdirSync(to, { recursive: true, mode: 0o700 });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    if (entry.isDirectory()) copyTree(src, join(to, entry.name));
    // A resource's `.tmp` file is a new version being written, renamed over the file when complete.
    else if (entry.isFile() && !entry.name.endsWith('.tmp')) {
      try {
        copyFileSync(src, join(to, entry.name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
}

/** Every file under `dir`, as paths relative to it with '/' separators, sorted. */
function filesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...filesUnder(dir, rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort();
}

/** Staging folders of backups that were killed (their process is gone): their links would hold disk space for ever. */
function removeStaleStaging(root: string): void {
  for (const name of readdirSync(root)) {
    const m = /^\.backup-(\d+)-/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // another backup, still running
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') continue;
    }
    rmSync(join(root, name), { recursive: true, force: true });
  }
}

/** Checks that `dir` is a data directory the backup can be made of, in one line if not. */
function checkSource(dir: string): ReturnType<typeof dataDirPaths> {
  const paths = dataDirPaths(resolve(dir));
  if (!existsSync(paths.root)) throw new TesseraError('not_found', `no data directory at ${dir}`);
  if (!statSync(paths.root).isDirectory()) throw new TesseraError('invalid_input', `${dir} is not a folder`);
  if (!existsSync(paths.config) || !existsSync(paths.store)) throw new TesseraError('not_found', `${dir} is not a Tessera data directory (no tessera.toml and store.sqlite in it)`);
  // Private keys in the clear, from before they were sealed: a backup is sealed throughout, so it waits.
  for (const legacy of Object.values(paths.legacy)) {
    if (existsSync(legacy)) throw new TesseraError('invalid_input', `${legacy} is a private key in the clear, from an older Tessera: start the node once (it seals it), then back up`);
  }
  return paths;
}

/**
 * Backs up the data directory `dir` into the tar file `out`, while a node may be running on it: the store as
 * of one commit (snapshotStore), every blob and package that commit can name, the key files sealed as they
 * are, the configuration, and the workflow resources' files as they are when copied. `onProgress` counts the
 * bytes written into the archive.
 */
export async function backupDataDir(opts: { dir: string; out: string; onProgress?: (done: number, total: number) => void }): Promise<BackupReport> {
  const paths = checkSource(opts.dir);
  const out = resolve(opts.out);
  if (existsSync(out)) throw new TesseraError('invalid_input', `${opts.out} already exists; a backup is never written over another file: choose another name`);
  if (out === paths.root || out.startsWith(paths.root + sep)) throw new TesseraError('invalid_input', `--out ${opts.out} is inside the data directory; write the backup somewhere else`);
  const partial = `${out}.partial`;
  let fd: number;
  try {
    fd = openSync(partial, 'wx', 0o600);
  } catch (err) {
    throw outError(out, err as NodeJS.ErrnoException);
  }
  // The staging folder is inside the data directory, so that links to its blobs are possible (same file system).
  removeStaleStaging(paths.root);
  let staging: string;
  try {
    staging = mkdtempSync(join(paths.root, `.backup-${process.pid}-`));
  } catch (err) {
    closeSync(fd);
    rmSync(partial, { force: true });
    throw new TesseraError('invalid_input', `cannot stage the backup in ${opts.dir} (${(err as NodeJS.ErrnoException).code}): it links the node's files there; run it as the user the node runs as`);
  }
  let done = false;
  try {
    // Blobs and packages first, then the store: a file the snapshot names was either linked already, or was
    // written before the snapshot and is linked by the second pass; one the node deletes meanwhile survives
    // as the link.
    const stage = (p: string) => join(staging, relative(paths.root, p));
    linkFiles(paths.blobs, stage(paths.blobs));
    linkFiles(paths.fnPackages, stage(paths.fnPackages));
    const snapshot = await snapshotStore(paths.store, stage(paths.store));
    linkFiles(paths.blobs, stage(paths.blobs));
    linkFiles(paths.fnPackages, stage(paths.fnPackages));
    for (const f of SINGLE_FILES) {
      if (!existsSync(join(paths.root, f))) continue;
      mkdirSync(dirname(join(staging, f)), { recursive: true, mode: 0o700 });
      copyFileSync(join(paths.root, f), join(staging, f));
    }
    copyTree(paths.workflowFiles, stage(paths.workflowFiles));

    const names = filesUnder(staging);
    const sizes = names.map((n) => statSync(join(staging, n)).size);
    const total = sizes.reduce((a, b) => a + b, 0);
    let written = 0;
    const entries: BackupEntry[] = [];
    const pack = tar.pack();
    const sink = pipeline(pack, createWriteStream('', { fd, autoClose: false }));
    const mtime = new Date();
    for (const [i, name] of names.entries()) {
      const hash = createHash('sha256');
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          written += chunk.length;
          opts.onProgress?.(written, total);
          cb(null, chunk);
        },
      });
      const entry = pack.entry({ name, size: sizes[i], mode: 0o600, mtime, uid: 0, gid: 0, uname: '', gname: '' });
      await pipeline(createReadStream(join(staging, name)), tap, entry);
      entries.push({ path: name, bytes: sizes[i], sha256: hash.digest('hex') });
    }
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      format_version: BACKUP_FORMAT_VERSION,
      created_at: mtime.toISOString(),
      tessera_version: VERSION,
      schema_version: snapshot.schemaVersion,
      ledger_last_seqno: snapshot.lastSeqno,
      files: entries,
    };
    const body = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
    await new Promise<void>((ok, fail) => pack.entry({ name: MANIFEST_NAME, size: body.length, mode: 0o600, mtime, uid: 0, gid: 0, uname: '', gname: '' }, body, (err) => (err ? fail(err) : ok())));
    pack.finalize();
    try {
      await sink;
      fsyncSync(fd);
    } catch (err) {
      throw outError(out, err as NodeJS.ErrnoException);
    }
    closeSync(fd);
    fd = -1;
    renameSync(partial, out);
    done = true;
    return { out, files: entries.length, bytes: total, schemaVersion: snapshot.schemaVersion, lastSeqno: snapshot.lastSeqno };
  } finally {
    if (fd! >= 0) closeSync(fd!);
    if (!done) rmSync(partial, { force: true });
    rmSync(staging, { recursive: true, force: true });
  }
}
