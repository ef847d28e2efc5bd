import { X509Certificate, createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { type LeafComponents, MerkleTree, leafOf } from './merkle.js';
import { verifyRootSignature } from './receipt.js';
import { txIdOf } from './ledger.js';

export interface LedgerReport {
  transactions: number;
  signatures: number;
  lastSigned: string | null;
  /** Committed transactions that no signature covers yet. */
  unsigned: number;
  problems: string[];
}

/**
 * Checks a ledger offline from the store file and the service certificate: every write set against its
 * digest, every leaf against its components, every signed root against the leaves, every signature
 * against the signing node's key, and every signing node against the service identity.
 */
export function verifyLedger(storePath: string, serviceCertPem: string, onProgress?: (done: number, total: number) => void): LedgerReport {
  const db = new Database(storePath, { readonly: true, fileMustExist: true });
  try {
    const problems: string[] = [];
    const service = new X509Certificate(serviceCertPem);
    const txs = db.prepare('SELECT seqno, writes FROM txlog ORDER BY seqno').all() as Array<{ seqno: number; writes: string }>;
    const leafRows = new Map((db.prepare('SELECT * FROM ledger_leaves').all() as Array<LeafComponents & { seqno: number; leaf: Buffer }>).map((r) => [r.seqno, r]));
    const tree = new MerkleTree();
    txs.forEach((tx, i) => {
      onProgress?.(i + 1, txs.length);
      if (tx.seqno !== i + 1) problems.push(`transaction ${txIdOf(i + 1)} is missing (found ${txIdOf(tx.seqno)})`);
      const row = leafRows.get(tx.seqno);
      if (!row) return;
      const digest = createHash('sha256').update(tx.writes).digest('hex');
      if (digest !== row.write_set_digest) problems.push(`transaction ${txIdOf(tx.seqno)}: its write set does not match its digest (altered after commit)`);
      const leaf = leafOf(row);
      if (!leaf.equals(row.leaf)) problems.push(`transaction ${txIdOf(tx.seqno)}: its leaf does not match its components`);
      tree.append(leaf);
    });
    const sigs = db.prepare('SELECT seqno, root, signature, cert FROM ledger_signatures ORDER BY seqno').all() as Array<{ seqno: number; root: Buffer; signature: Buffer; cert: string }>;
    for (const sig of sigs) {
      const id = txIdOf(sig.seqno);
      if (!Number.isInteger(sig.seqno) || sig.seqno < 1) {
        problems.push(`signature at ${id} names an impossible transaction ${sig.seqno}`);
        continue;
      }
      if (sig.seqno > tree.size) {
        problems.push(`signature at ${id} covers transactions that have no leaf`);
        continue;
      }
      if (!tree.root(sig.seqno).equals(sig.root)) problems.push(`signature at ${id}: the leaves do not give the signed root`);
      const cert = new X509Certificate(sig.cert);
      if (!verifyRootSignature(sig.root, sig.signature, cert)) problems.push(`signature at ${id} does not verify under its node certificate`);
      if (!cert.verify(service.publicKey)) problems.push(`signature at ${id}: the signing node is not endorsed by the service identity`);
    }
    const lastSigned = sigs.length ? sigs[sigs.length - 1].seqno : 0;
    return { transactions: txs.length, signatures: sigs.length, lastSigned: lastSigned ? txIdOf(lastSigned) : null, unsigned: txs.length - lastSigned, problems };
  } finally {
    db.close();
  }
}
