import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { access, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { seal, unseal } from '../../crypto/aead.js';
import { TesseraError } from '../../errors/index.js';
import { digestOf } from '../../packaging/package.js';

// Uploaded packages at rest: DATA/fn-packages/<digest>.sealed, each sealed (AES-256-GCM) under a key
// derived from the master key, with the digest as associated data, so that a copy of the data directory
// shows no code and a file swapped for another package's fails to open.

const DIGEST = /^[0-9a-f]{64}$/;

export class PackageStore {
  constructor(
    private readonly dir: string,
    private readonly key: Buffer,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private path(digest: string) {
    if (!DIGEST.test(digest)) throw new TesseraError('invalid_input', `'${digest}' is not a package digest (64 lowercase hex characters, the SHA-256 of the archive)`);
    return join(this.dir, `${digest}.sealed`);
  }

  async has(digest: string): Promise<boolean> {
    try {
      await access(this.path(digest));
      return true;
    } catch (err) {
      if (err instanceof TesseraError) throw err;
      return false;
    }
  }

  /** Stores the archive (idempotent), written to a temporary file, synced, then renamed into place. */
  async put(bytes: Buffer): Promise<string> {
    const digest = digestOf(bytes);
    const final = this.path(digest);
    const temp = `${final}.${process.pid}.${Date.now()}.tmp`;
    const sealed = seal(this.key, bytes, Buffer.from(digest));
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, sealed);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await rename(temp, final);
    return digest;
  }

  /** The archive; refuses one that does not open under this digest or does not hash to it. */
  async get(digest: string): Promise<Buffer> {
    let sealed: Buffer;
    try {
      sealed = await readFile(this.path(digest));
    } catch (err) {
      if (err instanceof TesseraError) throw err;
      throw new TesseraError('not_found', `no uploaded package ${digest}: upload it first (tessera fn deploy DIR)`);
    }
    let bytes: Buffer;
    try {
      bytes = unseal(this.key, sealed, Buffer.from(digest));
    } catch {
      throw new TesseraError('internal', `the stored package ${digest} does not open under this node's key: it was altered or belongs to another node`);
    }
    if (digestOf(bytes) !== digest) throw new TesseraError('internal', `the stored package ${digest} does not hash to its name`);
    return bytes;
  }

  async remove(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }
}
