import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type PackageLimits, digestDirectory, unpackPackage } from '../../packaging/package.js';
import type { PackageStore } from './package-store.js';

// Approved packages, unpacked where functions run them from: CACHE/<digest>, read-only. The cache lives
// outside the data directory (it is plaintext code) and is only ever a copy: before each cold start the
// copy is re-packed and hashed, and one that no longer matches its digest is thrown away and unpacked
// again from the sealed package, so a file changed on disk never changes what runs.

export class CodeCache {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    readonly root: string,
    private readonly store: PackageStore,
    private readonly logger: Logger,
    private readonly limits: PackageLimits,
  ) {}

  async open(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o711 });
    // Traversable by a function's own uid (it binds its package from here), listable only by the node.
    await chmod(this.root, 0o711);
  }

  /** The directory holding the package's code, verified against its digest just now. */
  dir(digest: string): Promise<string> {
    let p = this.pending.get(digest);
    if (!p) {
      p = this.ensure(digest).finally(() => this.pending.delete(digest));
      this.pending.set(digest, p);
    }
    return p;
  }

  private async ensure(digest: string): Promise<string> {
    const path = join(this.root, digest);
    if (await exists(path)) {
      let actual: string;
      try {
        actual = await digestDirectory(path, this.limits);
      } catch (err) {
        actual = `unreadable (${(err as Error).message})`;
      }
      if (actual === digest) return path;
      this.logger.error({ package: digest, found: actual }, 'the cached copy of a package changed on disk; it is discarded and unpacked again from the sealed package');
      await removeTree(path);
    }
    const temp = join(this.root, `.unpack-${digest.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
    try {
      await unpackPackage(await this.store.get(digest), temp, this.limits);
      await readOnly(temp);
      await rename(temp, path);
    } catch (err) {
      await removeTree(temp);
      throw err;
    }
    return path;
  }

  /** Start-up: every cached copy that is not one of `keep`, or no longer matches its digest, goes. */
  async verifyAll(keep: Set<string>): Promise<{ kept: number; removed: number }> {
    let kept = 0;
    let removed = 0;
    for (const name of await readdir(this.root)) {
      const path = join(this.root, name);
      const good = keep.has(name) && (await digestDirectory(path, this.limits).catch(() => '')) === name;
      if (good) kept++;
      else {
        if (keep.has(name)) this.logger.error({ package: name }, 'the cached copy of a package changed on disk while the node was stopped; it is discarded');
        await removeTree(path);
        removed++;
      }
    }
    return { kept, removed };
  }

  async clear(digest: string): Promise<void> {
    await removeTree(join(this.root, digest));
  }
}

const exists = (path: string) => lstat(path).then(() => true, () => false);

/** Directories 0555, files 0444 or 0555: readable by a function's uid, writable by nobody. */
async function readOnly(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const st = await lstat(path);
    if (st.isDirectory()) await readOnly(path);
    else if (st.isFile()) await chmod(path, st.mode & 0o100 ? 0o555 : 0o444);
  }
  await chmod(dir, 0o555);
}

/** rm -rf, first making directories writable again (a node that is not root cannot unlink in 0555). */
async function removeTree(path: string): Promise<void> {
  const writable = async (p: string) => {
    const st = await lstat(p).catch(() => null);
    if (!st?.isDirectory()) return;
    await chmod(p, 0o700).catch(() => {});
    for (const name of await readdir(p).catch(() => [] as string[])) await writable(join(p, name));
  };
  await writable(path);
  await rm(path, { recursive: true, force: true });
}
