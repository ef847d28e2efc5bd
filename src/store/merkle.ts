import { createHash } from 'node:crypto';

// The ledger's Merkle tree: RFC 6962's shape (split at the largest power of two below n) with CCF's
// node hash, SHA-256(left ‖ right), no domain-separation prefixes, so CCF receipt verifiers fold it.

const h = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const split = (n: number) => 2 ** Math.floor(Math.log2(n - 1));

export function merkleRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return Buffer.alloc(32);
  if (leaves.length === 1) return leaves[0];
  const k = split(leaves.length);
  return h(merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)));
}

export type ProofStep = { left: string } | { right: string };

/** The audit path of leaf `index` (0-based), from the leaf up, in CCF's {left}/{right} form. */
export function merkleProof(leaves: Buffer[], index: number): ProofStep[] {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return index < k
    ? [...merkleProof(leaves.slice(0, k), index), { right: merkleRoot(leaves.slice(k)).toString('hex') }]
    : [...merkleProof(leaves.slice(k), index - k), { left: merkleRoot(leaves.slice(0, k)).toString('hex') }];
}

export function foldProof(leaf: Buffer, proof: ProofStep[]): Buffer {
  let cur = leaf;
  for (const step of proof) cur = 'left' in step ? h(Buffer.from(step.left, 'hex'), cur) : h(cur, Buffer.from(step.right, 'hex'));
  return cur;
}

export interface LeafComponents {
  write_set_digest: string;
  commit_evidence: string;
  claims_digest: string;
}

/** CCF's leaf: SHA-256(write_set_digest ‖ SHA-256(commit_evidence) ‖ claims_digest). */
export function leafOf(c: LeafComponents): Buffer {
  return h(Buffer.from(c.write_set_digest, 'hex'), createHash('sha256').update(c.commit_evidence, 'utf8').digest(), Buffer.from(c.claims_digest, 'hex'));
}
