// The canonical package format (package.ts): what packs to the same digest and what does not, what pack
// refuses on disk, and what unpack refuses in archives built by hand (tar-stream's pack() directly, so
// that nothing here goes through the code under test on its way in).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type HandEntry, handTar } from '../../test/helpers/hand-tar.js';
import { TesseraError } from '../errors/index.js';
import { DEFAULT_PACKAGE_LIMITS, digestDirectory, digestOf, packDirectory, unpackPackage } from './package.js';

const root = mkdtempSync(join(tmpdir(), 'tessera-package-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (base = 'd') => join(root, `${base}-${++n}`);

/** A small function directory: nested directories, an executable, a link inside, an empty directory. */
function sampleDir(): string {
  const dir = fresh('src');
  mkdirSync(join(dir, 'lib', 'deep'), { recursive: true });
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'empty'));
  writeFileSync(join(dir, 'func.yaml'), 'schema_version: 20180708\nname: sample\nruntime: binary\nentrypoint: ./bin/run\n');
  writeFileSync(join(dir, 'lib', 'deep', 'data.txt'), 'some data\n');
  writeFileSync(join(dir, 'bin', 'run'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  chmodSync(join(dir, 'bin', 'run'), 0o755);
  symlinkSync('../lib/deep/data.txt', join(dir, 'bin', 'data'));
  // A path over 100 bytes (ustar's name field) and a name over 100 bytes (a pax header): still canonical.
  const long = join(dir, 'x'.repeat(60), 'y'.repeat(60));
  mkdirSync(long, { recursive: true });
  writeFileSync(join(long, 'z'.repeat(120)), 'long');
  writeFileSync(join(dir, 'ünïcödé.txt'), 'utf-8 name');
  return dir;
}

const isError = (code: TesseraError['code'], message: RegExp) => (err: unknown) => {
  assert.ok(err instanceof TesseraError, `not a TesseraError: ${err}`);
  assert.equal(err.code, code, err.message);
  assert.match(err.message, message);
  return true;
};

const YAML: HandEntry = { name: 'func.yaml', body: 'name: x\nruntime: binary\nentrypoint: ./x\n' };

describe('the same directory always packs to the same digest', () => {
  test('twice in a row, and from a copy made at another time', async () => {
    const dir = sampleDir();
    const a = await packDirectory(dir);
    const b = await packDirectory(dir);
    assert.match(a.digest, /^[0-9a-f]{64}$/);
    assert.equal(a.digest, digestOf(a.bytes));
    assert.deepEqual(a.bytes, b.bytes);
    assert.equal(a.files, 5);
    assert.equal(await digestDirectory(dir), a.digest);
    // The same files written again elsewhere, later: neither the path nor the time of writing counts.
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await packDirectory(sampleDir())).digest, a.digest);
  });

  test('times, owners and permission bits other than exec do not count', async () => {
    const dir = sampleDir();
    const before = (await packDirectory(dir)).digest;
    const then = new Date('2001-02-03T04:05:06Z');
    const walk = (d: string): string[] => readdirSync(d).flatMap((name) => [join(d, name), ...(lstatSync(join(d, name)).isDirectory() ? walk(join(d, name)) : [])]);
    for (const p of walk(dir)) if (!lstatSync(p).isSymbolicLink()) utimesSync(p, then, then);
    // Permission bits that do not say "executable": group/other read and write, a directory's mode.
    chmodSync(join(dir, 'func.yaml'), 0o600);
    chmodSync(join(dir, 'lib', 'deep', 'data.txt'), 0o664);
    chmodSync(join(dir, 'bin', 'run'), 0o700);
    chmodSync(join(dir, 'lib'), 0o700);
    chmodSync(join(dir, 'empty'), 0o775);
    // Owners: only root can give a file away; elsewhere this part checks nothing more.
    if (process.getuid?.() === 0) for (const p of walk(dir)) chownSync(p, 4242, 4343);
    assert.equal((await packDirectory(dir)).digest, before);
  });

  test('a change of content, of the exec bit, of a name or of a link target changes the digest', async () => {
    const dir = sampleDir();
    const digests = new Set([(await packDirectory(dir)).digest]);
    const changed = async (what: string) => {
      const d = (await packDirectory(dir)).digest;
      assert.ok(!digests.has(d), `${what} left the digest unchanged`);
      digests.add(d);
    };
    writeFileSync(join(dir, 'lib', 'deep', 'data.txt'), 'some datA\n');
    await changed('one byte of content');
    chmodSync(join(dir, 'func.yaml'), 0o744);
    await changed('setting the exec bit');
    chmodSync(join(dir, 'bin', 'run'), 0o644);
    await changed('clearing the exec bit');
    rmSync(join(dir, 'bin', 'data'));
    symlinkSync('../func.yaml', join(dir, 'bin', 'data'));
    await changed('a link target');
    renameSync(join(dir, 'empty'), join(dir, 'emptied'));
    await changed('a name');
    mkdirSync(join(dir, 'another-empty'));
    await changed('an empty directory');
  });
});

describe('pack refuses what cannot be a package', () => {
  const base = () => {
    const dir = fresh('bad');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'func.yaml'), 'name: x\n');
    return dir;
  };

  test('a symbolic link to an absolute path', async () => {
    const dir = base();
    symlinkSync('/etc/passwd', join(dir, 'sub', 'passwd'));
    await assert.rejects(packDirectory(dir), isError('invalid_input', /symbolic link 'sub\/passwd' points to '\/etc\/passwd', outside the package \(absolute\)/));
  });

  test("a symbolic link out of the package by '..'", async () => {
    const dir = base();
    symlinkSync('../../secret', join(dir, 'sub', 'up'));
    await assert.rejects(packDirectory(dir), isError('invalid_input', /symbolic link 'sub\/up' points to '\.\.\/\.\.\/secret', outside the package/));
    const top = base();
    symlinkSync('..', join(top, 'parent'));
    await assert.rejects(packDirectory(top), isError('invalid_input', /symbolic link 'parent' points to '\.\.'/));
  });

  test("a symbolic link whose '..' climbs out through another link", async () => {
    // sub/root -> '..' is the package root (inside). escape -> 'sub/root/..' reads as 'sub' by path
    // arithmetic, but the kernel follows sub/root first and then leaves the package.
    const dir = base();
    symlinkSync('..', join(dir, 'sub', 'root'));
    symlinkSync('sub/root/..', join(dir, 'escape'));
    assert.equal(readlinkSync(join(dir, 'escape')), 'sub/root/..');
    await assert.rejects(packDirectory(dir), isError('invalid_input', /symbolic link 'escape' points to 'sub\/root\/\.\.'/));
  });

  test('a named pipe, and a device where this process may make one', async () => {
    const dir = base();
    execFileSync('mkfifo', [join(dir, 'sub', 'pipe')]);
    await assert.rejects(packDirectory(dir), isError('invalid_input', /'sub\/pipe' is neither a file, a directory nor a symbolic link/));
    const dev = base();
    try {
      execFileSync('mknod', [join(dev, 'null'), 'c', '1', '3'], { stdio: 'ignore' });
    } catch {
      return; // no CAP_MKNOD here: the pipe above covers the same branch
    }
    await assert.rejects(packDirectory(dev), isError('invalid_input', /'null' is neither a file, a directory nor a symbolic link/));
  });

  test('over the size or entry limits', async () => {
    const dir = base();
    writeFileSync(join(dir, 'big'), Buffer.alloc(3000, 1));
    assert.ok((await packDirectory(dir, { maxBytes: 10_000, maxEntries: 10 })).bytes.length <= 10_000);
    await assert.rejects(packDirectory(dir, { maxBytes: 2000, maxEntries: 10 }), isError('too_large', /the package's files exceed 2000 bytes/));
    // The files fit, the archive (headers and padding) does not.
    await assert.rejects(packDirectory(dir, { maxBytes: 3500, maxEntries: 10 }), isError('too_large', /the package is \d+ bytes; the limit is 3500/));
    await assert.rejects(packDirectory(dir, { maxBytes: 10_000, maxEntries: 2 }), isError('too_large', /more than 2 entries/));
  });

  test('a missing directory, or a file given as the directory', async () => {
    await assert.rejects(packDirectory(join(root, 'nonexistent')), isError('not_found', /no function directory/));
    const dir = base();
    await assert.rejects(packDirectory(join(dir, 'func.yaml')), isError('invalid_input', /is not a directory/));
  });
});

describe('unpack refuses hand-built archives', () => {
  const refuses = async (entries: HandEntry[], code: TesseraError['code'], message: RegExp, opts: { trailer?: Buffer; limits?: typeof DEFAULT_PACKAGE_LIMITS } = {}) => {
    const bytes = await handTar(entries, opts.trailer);
    await assert.rejects(unpackPackage(bytes, fresh('out'), opts.limits), isError(code, message));
  };

  test('the hand builder makes canonical archives: the control for every refusal below', async () => {
    const entries: HandEntry[] = [{ name: 'a', type: 'directory' }, { name: 'a/b', body: 'b' }, { name: 'a/l', type: 'symlink', linkname: 'b' }, YAML, { name: 'run', body: '#!/bin/sh\n', mode: 0o755 }];
    const bytes = await handTar(entries);
    const out = fresh('out');
    assert.equal(await unpackPackage(bytes, out), digestOf(bytes));
    assert.deepEqual((await packDirectory(out)).bytes, bytes);
  });

  test('an absolute path', async () => {
    await refuses([YAML, { name: '/tmp/tessera-evil', body: 'x' }], 'invalid_input', /package entry '\/tmp\/tessera-evil' is an absolute path/);
  });

  test("a '..' component", async () => {
    await refuses([{ name: '../evil', body: 'x' }, YAML], 'invalid_input', /package entry '\.\.\/evil' has an empty, '\.' or '\.\.' component/);
    await refuses([{ name: 'a', type: 'directory' }, { name: 'a/../../evil', body: 'x' }, YAML], 'invalid_input', /package entry 'a\/\.\.\/\.\.\/evil' has an empty, '\.' or '\.\.' component/);
  });

  test('a symbolic link to outside: absolute, by .., and by .. through another link', async () => {
    await refuses([YAML, { name: 'passwd', type: 'symlink', linkname: '/etc/passwd' }], 'invalid_input', /symbolic link 'passwd' points to '\/etc\/passwd', outside the package \(absolute\)/);
    await refuses([{ name: 'a', type: 'directory' }, { name: 'a/up', type: 'symlink', linkname: '../../etc' }, YAML], 'invalid_input', /symbolic link 'a\/up' points to '\.\.\/\.\.\/etc', outside the package/);
    await refuses([{ name: 'escape', type: 'symlink', linkname: 'sub/root/..' }, YAML, { name: 'sub', type: 'directory' }, { name: 'sub/root', type: 'symlink', linkname: '..' }], 'invalid_input', /symbolic link 'escape' points to 'sub\/root\/\.\.'/);
  });

  test('a character device, a block device and a fifo', async () => {
    await refuses([YAML, { name: 'null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 }], 'invalid_input', /package entry 'null' is a character-device: only files, directories and symbolic links are allowed/);
    await refuses([YAML, { name: 'sda', type: 'block-device', mode: 0o660, devmajor: 8, devminor: 0 }], 'invalid_input', /package entry 'sda' is a block-device/);
    await refuses([YAML, { name: 'pipe', type: 'fifo' }], 'invalid_input', /package entry 'pipe' is a fifo/);
  });

  test('a hard link', async () => {
    await refuses([YAML, { name: 'hard', type: 'link', linkname: 'func.yaml' }], 'invalid_input', /package entry 'hard' is a link: only files, directories and symbolic links are allowed/);
    await refuses([{ name: 'hard', type: 'link', linkname: '/etc/shadow' }], 'invalid_input', /package entry 'hard' is a link/);
  });

  test('a duplicate entry', async () => {
    await refuses([YAML, { ...YAML, body: 'name: y\n' }], 'invalid_input', /package entry 'func.yaml' appears twice/);
    await refuses([{ name: 'a', type: 'directory' }, { name: 'a/', type: 'directory' }, YAML], 'invalid_input', /package entry 'a' appears twice/);
  });

  test('a file before its directory, or with no directory entry at all', async () => {
    await refuses([{ name: 'a/x', body: 'x' }, { name: 'a', type: 'directory' }, YAML], 'invalid_input', /package entry 'a\/x' comes before its directory 'a'/);
    await refuses([{ name: 'lib/deep/x', body: 'x' }, YAML], 'invalid_input', /package entry 'lib\/deep\/x' comes before its directory 'lib\/deep'/);
    // A link named like a directory is not one: nothing is written through it.
    await refuses([{ name: 'd', type: 'symlink', linkname: '.' }, { name: 'd/x', body: 'x' }, YAML], 'invalid_input', /package entry 'd\/x' comes before its directory 'd'/);
  });

  test('non-canonical archives: a time, an owner, a mode, the order, extra bytes', async () => {
    const NOT_CANONICAL = /the archive is not in canonical form/;
    await refuses([{ name: 'a', body: 'a', mtime: new Date('2024-01-01T00:00:00Z') }, YAML], 'invalid_input', NOT_CANONICAL);
    await refuses([{ name: 'a', body: 'a', uid: 1000, gid: 1000 }, YAML], 'invalid_input', NOT_CANONICAL);
    await refuses([{ name: 'a', body: 'a', mode: 0o600 }, YAML], 'invalid_input', NOT_CANONICAL);
    await refuses([{ name: 'a', type: 'directory', mode: 0o700 }, YAML], 'invalid_input', NOT_CANONICAL);
    await refuses([YAML, { name: 'a', body: 'a' }], 'invalid_input', NOT_CANONICAL);
    await refuses([{ name: 'a', body: 'a' }, YAML], 'invalid_input', NOT_CANONICAL, { trailer: Buffer.alloc(512) });
  });

  test('over the limits', async () => {
    const entries = [{ name: 'a', body: 'x'.repeat(2000) }, { name: 'b', body: 'b' }, { name: 'c', body: 'c' }, YAML];
    const bytes = await handTar(entries);
    await assert.rejects(unpackPackage(bytes, fresh('out'), { maxBytes: bytes.length - 1, maxEntries: 100 }), isError('too_large', new RegExp(`the package is ${bytes.length} bytes; the limit is ${bytes.length - 1}`)));
    await refuses(entries, 'too_large', /the package has more than 3 entries/, { limits: { maxBytes: 1 << 20, maxEntries: 3 } });
  });

  test('a corrupt archive is refused, and leaves no rejection behind to end the process', async () => {
    // Node ends a process on an unhandled rejection: a node that left one here would die on one bad upload.
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const garbage = Buffer.from('not a tar archive, just some text that is long enough to be a header?'.repeat(12));
      await assert.rejects(unpackPackage(garbage, fresh('out')), isError('invalid_input', /the package is not a readable tar archive: Invalid tar header/));
      const good = await handTar([YAML]);
      const truncated = Buffer.concat([good.subarray(0, 512), Buffer.from('x'.repeat(300))]);
      await assert.rejects(unpackPackage(truncated, fresh('out')), isError('invalid_input', /not a readable tar archive|not in canonical form/));
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(unhandled.map(String), []);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  test('a directory that is not empty is never unpacked into', async () => {
    const out = fresh('out');
    mkdirSync(out);
    writeFileSync(join(out, 'there'), 'already');
    await assert.rejects(unpackPackage(await handTar([YAML]), out), isError('internal', /is not empty/));
  });
});

describe('round trip', () => {
  test('a packed directory unpacks to the same files, modes and links, and packs to the same bytes', async () => {
    const dir = sampleDir();
    const packed = await packDirectory(dir);
    const out = fresh('out');
    assert.equal(await unpackPackage(packed.bytes, out), packed.digest);
    assert.deepEqual((await packDirectory(out)).bytes, packed.bytes);
    assert.equal(readFileSync(join(out, 'lib', 'deep', 'data.txt'), 'utf8'), 'some data\n');
    assert.equal(readFileSync(join(out, 'ünïcödé.txt'), 'utf8'), 'utf-8 name');
    assert.equal(readFileSync(join(out, 'x'.repeat(60), 'y'.repeat(60), 'z'.repeat(120)), 'utf8'), 'long');
    assert.equal(readlinkSync(join(out, 'bin', 'data')), '../lib/deep/data.txt');
    assert.equal(readFileSync(join(out, 'bin', 'data'), 'utf8'), 'some data\n', 'the link resolves inside the copy');
    assert.ok(lstatSync(join(out, 'bin', 'run')).mode & 0o100, 'the executable stays executable');
    assert.equal(lstatSync(join(out, 'func.yaml')).mode & 0o111, 0, 'a plain file does not become executable');
    assert.ok(lstatSync(join(out, 'empty')).isDirectory());
    // The unpacked copy is private to the node's user.
    assert.equal(lstatSync(join(out, 'func.yaml')).mode & 0o077, 0);
    assert.equal(lstatSync(join(out, 'lib')).mode & 0o077, 0);
  });
});
