import { createHash, hkdfSync } from 'node:crypto';
import { constants, mkdirSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { seal, unseal } from '../../crypto/aead.js';
import { TesseraError } from '../../errors/index.js';

// Files that workflow resources keep (file-log's lines, sqlx's database) live in one folder per owner and
// workflow name under DATA/workflow-files, named by a hash so the data directory shows neither, and are
// sealed: a copy of the data directory reveals nothing without the sealing key (docs/at-rest.md).

/** The folder of an owner's workflow of this name (created here). */
export function workflowFolder(root: string, owner: string, workflowName: string): string {
  const dir = join(root, createHash('sha256').update(`${owner}\0${workflowName}`).digest('hex').slice(0, 32));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** The key sealing one purpose's files of an owner's workflow, from the node's key for workflow resources. */
export const workflowFileKey = (base: Buffer, owner: string, workflowName: string, purpose: string): Buffer =>
  Buffer.from(hkdfSync('sha256', base, Buffer.alloc(0), `tessera workflow file\0${owner}\0${workflowName}\0${purpose}`, 32));

/**
 * A path a workflow named, inside its folder: relative, without '..' segments, absolute paths or empty
 * parts; `what` names the resource and key in the error.
 */
export function confinedPath(folder: string, name: string, what: string): string {
  const clean = normalize(name);
  if (!name || isAbsolute(name) || name.includes('\0') || clean.startsWith('..') || clean.split(sep).includes('..') || clean === '.' || name.endsWith('/')) {
    throw new TesseraError('invalid_input', `${what} '${name}' must be a relative file name inside the workflow's own folder (no '..', no absolute path)`);
  }
  const path = join(folder, clean);
  if (!path.startsWith(folder + sep)) throw new TesseraError('invalid_input', `${what} '${name}' leaves the workflow's own folder`);
  return path;
}

/**
 * Appends sealed lines to a file, in order, up to `maxBytes` on disk: each line is AES-256-GCM under the
 * file's key with the file name as AAD, base64, one per line. The file is opened without following a
 * symbolic link, so nothing planted in the folder redirects the writes.
 */
export class SealedLineFile {
  private size = 0;
  private writes: Promise<void> = Promise.resolve();
  private full = false;

  private constructor(
    private readonly handle: import('node:fs/promises').FileHandle,
    private readonly key: Buffer,
    private readonly aad: Buffer,
    private readonly maxBytes: number,
    private readonly onError: (message: string) => void,
  ) {}

  static async open(path: string, key: Buffer, aad: string, maxBytes: number, onError: (message: string) => void): Promise<SealedLineFile> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const handle = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    const file = new SealedLineFile(handle, key, Buffer.from(aad), maxBytes, onError);
    file.size = (await handle.stat()).size;
    return file;
  }

  append(line: string): Promise<void> {
    const record = Buffer.from(`${seal(this.key, Buffer.from(line, 'utf8'), this.aad).toString('base64')}\n`);
    this.writes = this.writes.then(async () => {
      if (this.size + record.length > this.maxBytes) {
        if (!this.full) this.onError(`the file reached its limit of ${this.maxBytes} bytes; further lines are dropped`);
        this.full = true;
        return;
      }
      try {
        await this.handle.write(record);
        this.size += record.length;
      } catch (err) {
        this.onError(`could not write a line: ${(err as Error).message}`);
      }
    });
    return this.writes;
  }

  async close(): Promise<void> {
    await this.writes;
    await this.handle.close();
  }
}

/** The lines of a sealed line file, opened; a line sealed under another key or file name fails the read. */
export async function readSealedLines(path: string, key: Buffer, aad: string): Promise<string[]> {
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) throw new TesseraError('not_found', 'no such file');
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return unseal(key, Buffer.from(l, 'base64'), Buffer.from(aad)).toString('utf8');
      } catch {
        throw new TesseraError('internal', 'a line of the file does not open under its key: the file was altered');
      }
    });
}
