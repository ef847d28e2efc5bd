// The behaviour every BlobStore (src/files/blob-store.ts) shares, run against each implementation:
// a real client ciphertext round-trips; a tampered, truncated or overlong one is refused with
// 'invalid_input' and leaves nothing readable; remove and size agree.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { TesseraError } from '../../src/errors/index.js';
import type { BlobStore, Expected } from '../../src/files/blob-store.js';
import { newUuid } from '../../src/crypto/random.js';
import { encryptForUpload, sha256 } from './files.js';

/** A file as a client makes it: plaintext, its key config, and the ciphertext it uploads. */
export function clientFile(bytes: number) {
  const config = { key: randomBytes(32), nonce: randomBytes(12), ad: randomBytes(16) };
  const plaintext = randomBytes(bytes);
  const wire = { key: config.key.toString('base64'), nonce: config.nonce.toString('base64'), ad: config.ad.toString('base64') };
  const ciphertext = encryptForUpload(wire, plaintext);
  const expected: Expected = { config, fileSize: bytes, sha256: sha256(plaintext) };
  return { plaintext, ciphertext, expected };
}

/** A source that arrives in pieces, as a socket does. */
export const pieces = (data: Buffer, size = 64 * 1024) =>
  Readable.from((function* () {
    for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
  })(), { objectMode: false });

export const readAll = async (r: Readable) => {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
};

const refused = (err: unknown) => err instanceof TesseraError && err.code === 'invalid_input';

export async function blobStoreConformance(store: BlobStore): Promise<void> {
  // Round trip, several chunks' worth, both ways.
  const file = clientFile(700 * 1024 + 3);
  const id = newUuid();
  await store.writeVerified(id, pieces(file.ciphertext), file.expected);
  assert.equal(await store.size(id), file.ciphertext.length);
  assert.ok((await readAll(store.openRead(id))).equals(file.ciphertext), 'openRead gives back the ciphertext');
  assert.ok((await store.read(id)).equals(file.ciphertext), 'read gives back the ciphertext');

  // An empty file is a tag alone.
  const empty = clientFile(0);
  const emptyId = newUuid();
  await store.writeVerified(emptyId, pieces(empty.ciphertext), empty.expected);
  assert.ok((await store.read(emptyId)).equals(empty.ciphertext));

  // Refusals: nothing is readable afterwards.
  const tampered = Buffer.from(file.ciphertext);
  tampered[1000] ^= 1;
  const cases: [string, Buffer, Expected][] = [
    ['one flipped bit', tampered, file.expected],
    ['truncated by one byte', file.ciphertext.subarray(0, -1), file.expected],
    ['the tag cut off', file.ciphertext.subarray(0, -16), file.expected],
    ['one byte too many', Buffer.concat([file.ciphertext, Buffer.from([0])]), file.expected],
    ['a wrong declared SHA-256', file.ciphertext, { ...file.expected, sha256: '0'.repeat(64) }],
  ];
  for (const [what, data, expected] of cases) {
    const bad = newUuid();
    await assert.rejects(store.writeVerified(bad, pieces(data), expected), refused, what);
    assert.equal(await store.size(bad), undefined, `${what}: nothing stored`);
  }

  // A source that fails mid-way (a client that hung up) is refused too.
  const cut = newUuid();
  const failing = new Readable({ read() {} });
  failing.push(file.ciphertext.subarray(0, 300 * 1024));
  setTimeout(() => failing.destroy(new Error('socket hang up')), 20);
  await assert.rejects(store.writeVerified(cut, failing, file.expected), refused, 'a cut-off upload');
  assert.equal(await store.size(cut), undefined);

  // Node-made blobs, remove, and removing what is not there.
  const out = newUuid();
  await store.writeBuffer(out, file.ciphertext);
  assert.ok((await store.read(out)).equals(file.ciphertext));
  await store.remove(out);
  await store.remove(id);
  await store.remove(emptyId);
  assert.equal(await store.size(id), undefined);
  await store.remove(newUuid());
  await assert.rejects(store.writeVerified('../etc', pieces(file.ciphertext), file.expected), refused, 'a name that is not a file id');
}
