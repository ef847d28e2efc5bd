import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { access, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { seal, unseal } from '../../crypto/aead.js';
import { TesseraError } from '../../errors/index.js';
import { digestOf } from '../../packaging/package.js';

// Uploaded packages at rest, each sealed (AES-256-GCM) under a key derived from the master key, with the
// digest as associated data, so that a copy of where they are kept shows no code and a package swapped for
// another's fails to open. One node keeps them in DATA/fn-packages/<digest>.sealed; a cluster's nodes share
// them in NATS's object store (PackagePlace below), so a function deployed through one node runs on any.

const DIGEST = /^[0-9a-f]{64}$/;

/** Where sealed packages are kept, by name: a directory, or an object store a cluster shares. */
export interface PackagePlace {
  has(name: string): Promise<boolean>;
  /** Stores the bytes durably, all or nothing. */
  put(name: string, sealed: Buffer): Promise<void>;
  /** The bytes, or undefined when there is no such package. */
  get(name: string): Promise<Buffer | undefined>;
  remove(name: string): Promise<void>;
}

/** A node's own directory: each package written to a temporary file, synced, then renamed into place. */
export class DirectoryPlace implements PackagePlace {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  async has(name: string): Promise<boolean> {
    return access(join(this.dir, name)).then(
      () => true,
      () => false,
    );
  }

  async put(name: string, sealed: Buffer): Promise<void> {
    const final = join(this.dir, name);
    const temp = `${final}.${process.pid}.${Date.now()}.tmp`;
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, sealed);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await rename(temp, final);
  }

  async get(name: string): Promise<Buffer | undefined> {
    return readFile(join(this.dir, name)).catch(() => undefined);
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.dir, name), { force: true });
  }
}

export class PackageStore {
  constructor(
    private readonly place: PackagePlace,
    private readonly key: Buffer,
  ) {}

  private name(digest: string) {
    if (!DIGEST.test(digest)) throw new TesseraError('invalid_input', `'${digest}' is not a package digest (64 lowercase hex characters, the SHA-256 of the archive)`);
    return `${digest}.sealed`;
  }

  async has(digest: string): Promise<boolean> {
    return this.place.has(this.name(digest));
  }

  /** Stores the archive (idempotent). */
  async put(bytes: Buffer): Promise<string> {
    const digest = digestOf(bytes);
    await this.place.put(this.name(digest), seal(this.key, bytes, Buffer.from(digest)));
    return digest;
  }

  /** The archive; refuses one that does not open under this digest or does not hash to it. */
  async get(digest: string): Promise<Buffer> {
    const sealed = await this.place.get(this.name(digest));
    if (!sealed) throw new TesseraError('not_found', `no uploaded package ${digest}: upload it first (tessera fn deploy DIR)`);
    let bytes: Buffer;
    try {
      bytes = unseal(this.key, sealed, Buffer.from(digest));
    } catch {
      throw new TesseraError('internal', `the stored package ${digest} does not open under this node's key: it was altered or belongs to another service`);
    }
    if (digestOf(bytes) !== digest) throw new TesseraError('internal', `the stored package ${digest} does not hash to its name`);
    return bytes;
  }

  async remove(digest: string): Promise<void> {
    return this.place.remove(this.name(digest));
  }
}
