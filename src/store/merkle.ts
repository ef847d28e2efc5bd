import { createHash } from 'node:crypto';

// The ledger's Merkle tree: RFC 6962's shape (split at the largest power of two below n) with CCF's
// node hash, SHA-256(left ‖ right), no domain-separation prefixes, so CCF receipt verifiers fold it.

const h = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const split = (n: number) => 2 ** Math.floor(Math.log2(n - 1));

export type ProofStep = { left: string } | { right: string };

/**
 * An append-only tree that keeps the hash of every perfect subtree (about 2n hashes), so that the root
 * over any prefix and any audit path cost O(log n) hashes. Recomputing the root from all leaves at each
 * signature made signing O(n log n) on the event loop, ever slower as the ledger grew.
 */
export class MerkleTree {
  /** levels[k][j]: the hash of leaves [j·2^k, (j+1)·2^k). */
  private readonly levels: Buffer[][] = [[]];

  get size(): number {
    return this.levels[0].length;
  }

  append(leaf: Buffer): void {
    this.levels[0].push(leaf);
    for (let k = 0, j = this.levels[0].length - 1; j % 2 === 1; k++, j = (j - 1) / 2) {
      (this.levels[k + 1] ??= []).push(h(this.levels[k][j - 1], this.levels[k][j]));
    }
  }

  /** The root over the first `n` leaves (all by default). */
  root(n = this.size): Buffer {
    this.check(n);
    return n === 0 ? Buffer.alloc(32) : this.range(0, n);
  }

  /** The audit path of leaf `index` (0-based) in the tree of the first `n` leaves, from the leaf up, in CCF's {left}/{right} form. */
  proof(index: number, n = this.size): ProofStep[] {
    this.check(n);
    if (index < 0 || index >= n) throw new RangeError(`leaf ${index} is not among the first ${n}`);
    const steps: ProofStep[] = [];
    const walk = (start: number, size: number, i: number) => {
      if (size <= 1) return;
      const k = split(size);
      if (i < k) {
        walk(start, k, i);
        steps.push({ right: this.range(start + k, size - k).toString('hex') });
      } else {
        walk(start + k, size - k, i - k);
        steps.push({ left: this.range(start, k).toString('hex') });
      }
    };
    walk(0, n, index);
    return steps;
  }

  /** RFC 6962's hash of leaves [start, start + n). Every range the recursion reaches starts at a multiple of its own power-of-two size, so a perfect one is stored. */
  private range(start: number, n: number): Buffer {
    if ((n & (n - 1)) === 0) return this.levels[Math.log2(n)][start / n];
    const k = split(n);
    return h(this.range(start, k), this.range(start + k, n - k));
  }

  private check(n: number) {
    if (!Number.isInteger(n) || n < 0 || n > this.size) throw new RangeError(`the tree has ${this.size} leaves, not ${n}`);
  }
}

export function merkleRoot(leaves: Buffer[]): Buffer {
  const tree = new MerkleTree();
  for (const leaf of leaves) tree.append(leaf);
  return tree.root();
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
