import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TestNode, startNode, tempDir } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';

// Issue 16, finding 10f: a full disk was blamed on the client (400 "upload was cut off") and DELETE
// answered 500, so nobody could free space. The node here runs in a private mount namespace with a
// 24 MiB tmpfs over its data directory (the directory is initialised on the real disk and copied in).

const SIZE = '24m';
/** The wrapper: a private mount namespace, the data directory's contents moved onto a small tmpfs mounted over it, then exec. */
const WRAP = [
  'set -e',
  'D="$1"; shift',
  'rm -rf "$D.seed"; cp -a "$D" "$D.seed"',
  `mount -t tmpfs -o size=${SIZE},mode=0700 tessera-disk-full "$D"`,
  'cp -a "$D.seed"/. "$D"/',
  'rm -rf "$D.seed"',
  'exec "$@"',
].join('\n');

/** Why this machine cannot run the test, or null if it can. */
function unsupported(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (to mount a small tmpfs in a private mount namespace)';
  const probe = tempDir('tessera-disk-probe-');
  try {
    execFileSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=1m probe "$1" && umount "$1"', 'sh', probe], { stdio: 'ignore', timeout: 10_000 });
    return null;
  } catch (err) {
    return `unshare -m and mount -t tmpfs do not work here (${(err as Error).message.split('\n')[0]})`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const skip = unsupported();
let node: TestNode;
before(async () => {
  if (skip) return;
  node = await startNode({ users: ['alice', 'bob'], wrapper: (dir) => ['unshare', '-m', 'sh', '-c', WRAP, 'sh', dir] });
});
after(async () => {
  await node?.cleanup();
});

const MiB = 1024 * 1024;
const octets = { 'content-type': 'application/octet-stream' };
const id = (user = 'alice') => ({ ...node.identity(user), ca: node.ca });
const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;
/** The data directory as the node sees it: through its own mount namespace. */
const inside = (...parts: string[]) => join(`/proc/${node.proc.pid}/root`, node.dir, ...parts);

async function create(plain: Buffer, user = 'alice') {
  return https(url('/v1/files'), id(user), { method: 'POST', json: { file_name: 'f', sha256: sha256(plain), file_size: plain.length } });
}

async function upload(plain: Buffer, user = 'alice') {
  const c = await create(plain, user);
  if (c.status !== 201) return { fileId: null, create: c, put: null, keyConfig: null };
  const f = c.json() as { file_id: string; access_path: string; key_config: { key: string; nonce: string; ad: string } };
  const put = await https(f.access_path, id(user), { method: 'PUT', body: encryptForUpload(f.key_config, plain), headers: octets });
  return { fileId: f.file_id, create: c, put, keyConfig: f.key_config };
}

test('on a full disk an upload gets 507 and leaves nothing, DELETE frees space, and uploads work again', { skip: skip ?? false }, async () => {
  assert.ok(existsSync(inside('store.sqlite')), 'the node runs on the small file system');
  // The bystander: bob stored a file before alice filled the disk.
  const bobsPlain = randomBytes(64 * 1024);
  const bobs = await upload(bobsPlain, 'bob');
  assert.equal(bobs.put?.status, 200, (bobs.put ?? bobs.create).body.toString());
  const stored: string[] = [];
  let failed: Awaited<ReturnType<typeof upload>> | undefined;
  for (let i = 0; i < 20 && !failed; i++) {
    const r = await upload(randomBytes(3 * MiB));
    if (r.put?.status === 200) stored.push(r.fileId!);
    else failed = r;
  }
  assert.ok(failed, 'the disk filled up');
  assert.ok(stored.length >= 3, `some files fit first (${stored.length})`);
  const reply = failed.put ?? failed.create;
  assert.equal(reply.status, 507, reply.body.toString());
  assert.equal(reply.json().error.code, 'InsufficientStorage');
  assert.match(reply.json().error.message, /disk is full \(no space left on the file system of .*\/data(\/blobs)?\)/);
  assert.doesNotMatch(reply.json().error.message, /cut off/);

  // Nothing half-written: no temporary file, no blob and no record for the failed file.
  assert.deepEqual(readdirSync(inside('blobs', '.incoming')), [], 'no partial upload in blobs/.incoming');
  const blobs = readdirSync(inside('blobs')).filter((f) => !f.startsWith('.'));
  assert.deepEqual(blobs.sort(), [...stored, bobs.fileId].sort(), 'DATA/blobs holds exactly the stored files');
  if (failed.fileId) assert.equal((await https(url(`/v1/files/${failed.fileId}`), id())).status, 404, 'the failed file is removed, with its key');
  assert.deepEqual(((await https(url('/v1/files'), id())).json().files as string[]).sort(), [...stored].sort());

  // Now fill the disk to the last byte, as another writer would.
  const filler = openSync(inside('filler'), 'w');
  try {
    const chunk = Buffer.alloc(64 * 1024, 1);
    for (;;) writeSync(filler, chunk);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(filler);
  }
  // Whatever a write needs now, the answer is 507 or success, never 500 or a blamed client.
  const onFull = await upload(randomBytes(MiB));
  const onFullReply = onFull.put ?? onFull.create;
  assert.equal(onFullReply.status, 507, onFullReply.body.toString());
  assert.equal(onFullReply.json().error.code, 'InsufficientStorage');
  assert.deepEqual(readdirSync(inside('blobs', '.incoming')), []);

  // Bob still lists and reads his file on the full disk, and is told 507 (not blamed) for a new one.
  assert.deepEqual((await https(url('/v1/files'), id('bob'))).json().files, [bobs.fileId]);
  assert.deepEqual(decryptDownload(bobs.keyConfig!, (await https(url(`/v1/files/${bobs.fileId}/content`), id('bob'))).body), bobsPlain);
  const bobOnFull = await upload(randomBytes(MiB), 'bob');
  assert.equal((bobOnFull.put ?? bobOnFull.create).status, 507);

  // DELETE still works on the full disk, and frees the file's space.
  const victim = stored.shift()!;
  const del = await https(url(`/v1/files/${victim}`), id(), { method: 'DELETE' });
  assert.equal(del.status, 200, del.body.toString());
  assert.ok(!existsSync(inside('blobs', victim)), 'the blob is gone');
  assert.equal((await https(url(`/v1/files/${victim}`), id())).status, 404);

  // An upload that fits in the freed space succeeds, and reads back.
  const plain = randomBytes(MiB);
  const again = await upload(plain);
  assert.equal(again.put?.status, 200, (again.put ?? again.create).body.toString());
  const content = await https(url(`/v1/files/${again.fileId}/content`), id());
  assert.equal(content.status, 200);
  assert.equal(content.body.length, plain.length + 16);

  // The node kept serving throughout.
  assert.equal(node.proc.exitCode, null, 'the node is still running');
  assert.equal((await https(url('/v1/files'), id())).status, 200);
  assert.doesNotMatch(node.logs(), /"level":50.*request failed/, 'no request failed as an internal error');
});
