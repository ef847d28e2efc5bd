import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { MerkleTree, foldProof, merkleRoot } from './merkle.js';

// RFC 6962's definition, written out directly as the reference the incremental tree must agree with.
const h = (a: Buffer, b: Buffer) => createHash('sha256').update(Buffer.concat([a, b])).digest();
function reference(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0];
  const k = 2 ** Math.floor(Math.log2(leaves.length - 1));
  return h(reference(leaves.slice(0, k)), reference(leaves.slice(k)));
}

test('the root over every prefix, and every audit path in it, agree with RFC 6962 written out', () => {
  const leaves = Array.from({ length: 70 }, () => randomBytes(32));
  const tree = new MerkleTree();
  assert.deepEqual(tree.root(), Buffer.alloc(32), 'an empty tree has the zero root');
  leaves.forEach((leaf) => tree.append(leaf));
  for (let n = 1; n <= leaves.length; n++) {
    const root = reference(leaves.slice(0, n));
    assert.deepEqual(tree.root(n), root, `root of ${n}`);
    for (let i = 0; i < n; i++) assert.deepEqual(foldProof(leaves[i], tree.proof(i, n)), root, `leaf ${i} of ${n}`);
  }
  assert.deepEqual(merkleRoot(leaves), reference(leaves));
});

test('sizes and indexes outside the tree are refused', () => {
  const tree = new MerkleTree();
  tree.append(randomBytes(32));
  assert.throws(() => tree.root(2), /has 1 leaves, not 2/);
  assert.throws(() => tree.proof(1, 1), /leaf 1 is not among the first 1/);
});
