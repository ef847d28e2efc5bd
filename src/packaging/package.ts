import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { TesseraError } from '../errors/index.js';

// A process function's code is a package: one tar archive in a canonical form, named by the SHA-256 of
// its bytes. The same directory always packs to the same bytes (paths in byte order, every directory
// listed before what it holds, modes 0755/0644, times and owners zeroed), so a member can re-pack a
// proposal's directory and compare digests, and the node can re-pack its unpacked copy to prove that
// what is about to run is still what was approved. The client packs; the node unpacks into an empty
// directory and accepts only an archive that re-packs to exactly its own bytes.

export interface PackageLimits {
  /** Largest archive, bytes. */
  maxBytes: number;
  /** Most entries (files, directories and links). */
  maxEntries: number;
}

export const DEFAULT_PACKAGE_LIMITS: PackageLimits = { maxBytes: 128 * 1024 * 1024, maxEntries: 20000 };

interface Entry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  body?: Buffer;
  link?: string;
}

const EPOCH = new Date(0);
const bad = (message: string) => new TesseraError('invalid_input', message);
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Refuses a path that is absolute, empty, or walks up or sideways ('..', '.', '//'). */
function checkPath(path: string): void {
  if (!path || path.length > 4096 || path.includes('\0')) throw bad(`package entry '${path}' has an empty, over-long or NUL-containing path`);
  if (path.startsWith('/')) throw bad(`package entry '${path}' is an absolute path`);
  if (path.split('/').some((part) => part === '' || part === '.' || part === '..')) throw bad(`package entry '${path}' has an empty, '.' or '..' component`);
}

/**
 * A link target must be relative and stay inside the package. Path arithmetic alone is not enough: in
 * 'sub/root/..' the name 'sub/root' may itself be a link (to '..', the package root), which the kernel
 * follows before the '..', leaving the package although the text normalises to 'sub'. So '..' may only
 * lead a target, where it climbs through the link's own directories (real ones: nothing is written under
 * a link), and names after it only descend, through links that obey the same rule.
 */
function checkLink(path: string, target: string): void {
  if (!target || target.startsWith('/')) throw bad(`symbolic link '${path}' points to '${target}', outside the package (absolute)`);
  const parts = target.split('/');
  const firstName = parts.findIndex((p) => p !== '..' && p !== '.' && p !== '');
  if (firstName >= 0 && parts.slice(firstName).includes('..')) {
    throw bad(`symbolic link '${path}' points to '${target}': '..' after a name could climb out of the package through another link; write the target with its '..' first`);
  }
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (resolved === '..' || resolved.startsWith('../')) throw bad(`symbolic link '${path}' points to '${target}', outside the package`);
}

async function walk(root: string, limits: PackageLimits): Promise<Entry[]> {
  const out: Entry[] = [];
  let bytes = 0;
  const visit = async (rel: string) => {
    const names = (await readdir(rel ? join(root, rel) : root)).sort(byBytes);
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      checkPath(path);
      const abs = join(root, path);
      const st = await lstat(abs);
      if (out.length >= limits.maxEntries) throw new TesseraError('too_large', `the package has more than ${limits.maxEntries} entries`);
      if (st.isDirectory()) {
        out.push({ path, type: 'directory', mode: 0o755 });
        await visit(path);
      } else if (st.isFile()) {
        bytes += st.size;
        if (bytes > limits.maxBytes) throw new TesseraError('too_large', `the package's files exceed ${limits.maxBytes} bytes`);
        out.push({ path, type: 'file', mode: st.mode & 0o111 ? 0o755 : 0o644, body: await readFile(abs) });
      } else if (st.isSymbolicLink()) {
        const link = await readlink(abs);
        checkLink(path, link);
        out.push({ path, type: 'symlink', mode: 0o777, link });
      } else {
        throw bad(`'${path}' is neither a file, a directory nor a symbolic link (a device, socket or pipe cannot be packaged)`);
      }
    }
  };
  await visit('');
  return out;
}

async function archive(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const collected = Readable.from(pack).toArray();
  for (const e of entries) {
    const header = { name: e.path, mode: e.mode, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '', type: e.type, ...(e.link !== undefined ? { linkname: e.link } : {}) };
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.type === 'file') pack.entry(header, e.body!, done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  return Buffer.concat(await collected);
}

export const digestOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Packs a function directory into its canonical archive. */
export async function packDirectory(dir: string, limits: PackageLimits = DEFAULT_PACKAGE_LIMITS): Promise<{ bytes: Buffer; digest: string; files: number }> {
  let st;
  try {
    st = await lstat(dir);
  } catch {
    throw new TesseraError('not_found', `no function directory ${dir}`);
  }
  if (!st.isDirectory()) throw bad(`${dir} is not a directory`);
  const entries = await walk(dir, limits);
  const bytes = await archive(entries);
  if (bytes.length > limits.maxBytes) throw new TesseraError('too_large', `the package is ${bytes.length} bytes; the limit is ${limits.maxBytes}`);
  return { bytes, digest: digestOf(bytes), files: entries.filter((e) => e.type === 'file').length };
}

/** The digest the directory packs to: what a copy on disk must still match before it runs. */
export async function digestDirectory(dir: string, limits: PackageLimits = DEFAULT_PACKAGE_LIMITS): Promise<string> {
  return (await packDirectory(dir, limits)).digest;
}

/**
 * Unpacks an archive into `dir` (which must be empty or absent), refusing anything but plain files,
 * directories and links that stay inside; then checks that it is canonical: that the unpacked tree
 * re-packs to exactly these bytes. Returns the digest.
 */
export async function unpackPackage(bytes: Buffer, dir: string, limits: PackageLimits = DEFAULT_PACKAGE_LIMITS): Promise<string> {
  if (bytes.length > limits.maxBytes) throw new TesseraError('too_large', `the package is ${bytes.length} bytes; the limit is ${limits.maxBytes}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if ((await readdir(dir)).length) throw new TesseraError('internal', `${dir} is not empty`);
  const dirs = new Set<string>(['']);
  const seen = new Set<string>();
  const extract = tar.extract();
  // Errors (a truncated or garbled archive) surface through the iteration below, never as an event.
  extract.end(bytes);
  let count = 0;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const path = h.name.endsWith('/') && h.type === 'directory' ? h.name.slice(0, -1) : h.name;
      checkPath(path);
      if (++count > limits.maxEntries) throw new TesseraError('too_large', `the package has more than ${limits.maxEntries} entries`);
      if (seen.has(path)) throw bad(`package entry '${path}' appears twice`);
      seen.add(path);
      const parent = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      // Writing only under directories this archive made keeps every write inside `dir`, whatever links say.
      if (!dirs.has(parent)) throw bad(`package entry '${path}' comes before its directory '${parent}' (not a canonical package)`);
      const abs = join(dir, path);
      if (h.type === 'directory') {
        await mkdir(abs, { mode: 0o700 });
        dirs.add(path);
        entry.resume();
      } else if (h.type === 'file') {
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        await writeFile(abs, Buffer.concat(chunks), { flag: 'wx', mode: (h.mode ?? 0) & 0o111 ? 0o700 : 0o600 });
      } else if (h.type === 'symlink') {
        checkLink(path, h.linkname ?? '');
        await symlink(h.linkname!, abs);
        entry.resume();
      } else {
        throw bad(`package entry '${path}' is a ${h.type}: only files, directories and symbolic links are allowed`);
      }
    }
  } catch (err) {
    extract.destroy();
    if (err instanceof TesseraError) throw err;
    throw bad(`the package is not a readable tar archive: ${(err as Error).message}`);
  }
  const digest = digestOf(bytes);
  const again = await digestDirectory(dir, limits);
  if (again !== digest) throw bad('the archive is not in canonical form (paths in byte order, modes 0755/0644, zero times and owners): pack it with `tessera fn deploy`');
  return digest;
}
