import { createDecipheriv, createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TesseraError, diskFullError, isDiskFull } from '../errors/index.js';
import { TAG_BYTES } from '../crypto/aead.js';
import { TrailingTag } from '../crypto/trailing-tag.js';
import { newUuid } from '../crypto/random.js';
import type { BlobStore as BlobStoreApi, Expected } from './blob-store.js';

export type { Expected } from './blob-store.js';

/**
 * Bytes buffered between the socket, the verifier and the file. Node's 16 KiB default made every TLS
 * record wait for its own write on the thread pool, which left both ends of an upload mostly idle.
 */
export const STREAM_BUFFER = 1024 * 1024;

/**
 * Space held back in DATA/blobs/.reserve: when the disk is full, it is given up so that the store can
 * still record a DELETE (or the cleanup of a failed upload), which is how space is freed; it is taken
 * again once there is room.
 */
export const RESERVE_BYTES = 1024 * 1024;

/**
 * Checks a ciphertext as it streams past without keeping it: the length, the GCM tag over the whole
 * file, and the SHA-256 of the plaintext, which is computed and dropped chunk by chunk. Chunks pass
 * through unchanged; the stream ends only after every check passed (else it errors with 'invalid_input'),
 * so a store that commits on the end of this stream commits verified bytes only (NatsBlobStore does).
 */
export class CiphertextVerifier extends Transform {
  private readonly decipher;
  private readonly hash = createHash('sha256');
  private readonly split = new TrailingTag((body) => this.hash.update(this.decipher.update(body)));
  private received = 0;

  constructor(private readonly expected: Expected) {
    super({ highWaterMark: STREAM_BUFFER });
    this.decipher = createDecipheriv('aes-256-gcm', expected.config.key, expected.config.nonce);
    this.decipher.setAAD(expected.config.ad);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    this.received += chunk.length;
    const limit = this.expected.fileSize + TAG_BYTES;
    if (this.received > limit) {
      return done(new TesseraError('invalid_input', `the ciphertext is longer than the declared file_size ${this.expected.fileSize} plus the ${TAG_BYTES}-byte tag (${limit} bytes)`));
    }
    this.split.push(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback) {
    const expectedLength = this.expected.fileSize + TAG_BYTES;
    if (this.received !== expectedLength) {
      return done(new TesseraError('invalid_input', `the ciphertext is ${this.received} bytes; file_size ${this.expected.fileSize} needs exactly ${expectedLength} (plaintext + ${TAG_BYTES}-byte tag)`));
    }
    try {
      this.decipher.setAuthTag(this.split.tag);
      this.hash.update(this.decipher.final());
    } catch {
      return done(new TesseraError('invalid_input', 'the GCM tag does not verify: the ciphertext was not made with this file\'s key config, or was altered'));
    }
    const actual = this.hash.digest('hex');
    if (actual !== this.expected.sha256) {
      return done(new TesseraError('invalid_input', `the plaintext's SHA-256 is ${actual}, not the declared ${this.expected.sha256}`));
    }
    done();
  }
}

/** Encrypted blobs in DATA/blobs, each written to a temporary file, fsynced, then renamed into place. */
export class LocalBlobStore implements BlobStoreApi {
  private readonly incoming: string;
  private readonly reserve: string;

  constructor(private readonly dir: string) {
    this.incoming = join(dir, '.incoming');
    this.reserve = join(dir, '.reserve');
    mkdirSync(this.incoming, { recursive: true, mode: 0o700 });
    this.ensureReserve();
  }

  /** Takes the reserve (RESERVE_BYTES) if it is not held and there is room; never throws. */
  ensureReserve(): void {
    if (existsSync(this.reserve)) return;
    const temp = join(this.incoming, '.reserve');
    let fd: number | undefined;
    try {
      fd = openSync(temp, 'w', 0o600);
      const chunk = Buffer.alloc(64 * 1024);
      for (let written = 0; written < RESERVE_BYTES; written += chunk.length) writeSync(fd, chunk);
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(temp, this.reserve);
    } catch {
      if (fd !== undefined) closeSync(fd);
      rmSync(temp, { force: true });
    }
  }

  /** Gives up the reserve so that a write that freed space can be recorded; false if it was not held. */
  releaseReserve(): boolean {
    if (!existsSync(this.reserve)) return false;
    rmSync(this.reserve, { force: true });
    return true;
  }

  /** Uploads that were cut off when the node last stopped leave temporary files; they go at start. */
  sweepIncoming(): number {
    const stale = readdirSync(this.incoming);
    for (const f of stale) rmSync(join(this.incoming, f), { force: true });
    return stale.length;
  }

  private path(fileId: string) {
    if (!/^[0-9a-f-]{36}$/.test(fileId)) throw new TesseraError('invalid_input', `'${fileId}' is not a file id`);
    return join(this.dir, fileId);
  }

  /** Streams `source` into the blob for `fileId`, verifying it; on any failure nothing is left behind. */
  async writeVerified(fileId: string, source: Readable, expected: Expected): Promise<void> {
    const temp = join(this.incoming, `${fileId}.${newUuid()}`);
    const sink = createWriteStream(temp, { flags: 'wx', mode: 0o600, highWaterMark: STREAM_BUFFER });
    try {
      await pipeline(source, new CiphertextVerifier(expected), sink);
      await this.commit(temp, fileId);
    } catch (err) {
      // The sink opens its file asynchronously: removing it before the sink has closed could leave it behind.
      if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
      await rm(temp, { force: true });
      if (err instanceof TesseraError) throw err;
      // ENOSPC or EDQUOT: the node's fault, not the client's (507, not 400).
      if (isDiskFull(err)) throw diskFullError(err, this.dir, `the upload of file ${fileId} was not stored`);
      throw new TesseraError('invalid_input', `the upload was cut off before it completed (${(err as Error).message}); nothing was stored`);
    }
  }

  /** fsync the finished temporary file (fsync covers the inode, whichever descriptor wrote it), then rename it into place. */
  private async commit(temp: string, fileId: string) {
    const handle = await open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.path(fileId));
    await this.syncDir();
  }

  /** Atomically stores a ciphertext produced inside the node (function outputs). */
  async writeBuffer(fileId: string, data: Buffer): Promise<void> {
    const temp = join(this.incoming, `${fileId}.${newUuid()}`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
      await handle.close();
      await rename(temp, this.path(fileId));
      await this.syncDir();
    } catch (err) {
      await handle.close().catch(() => {});
      await rm(temp, { force: true });
      if (isDiskFull(err)) throw diskFullError(err, this.dir, `file ${fileId} was not stored`);
      throw err;
    }
  }

  openRead(fileId: string): Readable {
    return createReadStream(this.path(fileId), { highWaterMark: 1024 * 1024 });
  }

  read(fileId: string): Promise<Buffer> {
    return readFile(this.path(fileId));
  }

  async remove(fileId: string): Promise<void> {
    await rm(this.path(fileId), { force: true });
  }

  async size(fileId: string): Promise<number | undefined> {
    try {
      return (await stat(this.path(fileId))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async syncDir() {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

/** The local store under its earlier name, which node.ts and the tests construct. */
export const BlobStore = LocalBlobStore;
export type BlobStore = LocalBlobStore;
