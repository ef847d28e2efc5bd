import { createHash, createHmac, createPrivateKey, X509Certificate } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import { type LeafComponents, MerkleTree, leafOf } from './merkle.js';
import { type Receipt, signRoot } from './receipt.js';
import type { SqliteStore } from './sqlite.js';

// The verifiable ledger over the Store's transaction log. Every committed write transaction is a leaf;
// the node signs the Merkle root over all leaves so far at an interval; any signed transaction then has
// a receipt a client can check offline (src/store/receipt.ts). There is one node and no election, so
// every transaction is in one view: 2, as in a new CCF service, whose first view is 2 (CCF's
// tests/e2e_logging.py test_invalid_txids: "views start at 2", so 1.1 is Invalid, never Committed).
// Receipts do not depend on the view beyond the transaction id in their commit evidence, which is
// stored with each leaf: leaves made under an older view keep verifying.

export const VIEW = 2;
export const txIdOf = (seqno: number) => `${VIEW}.${seqno}`;

const UINT64_MAX = 2n ** 64n - 1n;

/**
 * A transaction id as CCF's TxID::from_str reads it (include/ccf/tx_id.h): `view.seqno`, both unsigned
 * 64-bit decimal integers, neither 0 (no transaction has view or seqno 0); anything else is no id.
 */
export function parseTxId(id: string): { view: number; seqno: number } | null {
  const m = /^(\d+)\.(\d+)$/.exec(id);
  if (!m) return null;
  const view = BigInt(m[1]);
  const seqno = BigInt(m[2]);
  if (view === 0n || seqno === 0n || view > UINT64_MAX || seqno > UINT64_MAX) return null;
  return { view: Number(view), seqno: Number(seqno) };
}

export type TxStatus = 'Committed' | 'Pending' | 'Unknown' | 'Invalid';

export interface LedgerSigner {
  certPem: string;
  keyPem: string;
}

const ZERO_CLAIMS = '0'.repeat(64);

export class Ledger {
  private readonly tree = new MerkleTree();
  private readonly db;
  private readonly store: SqliteStore;
  private readonly scalar: Buffer;
  private readonly nodeId: string;

  constructor(
    store: SqliteStore,
    /** Secret from which commit evidence is derived. */
    private readonly secret: Buffer,
    private readonly signer: LedgerSigner,
  ) {
    this.db = store.database;
    this.store = store;
    this.scalar = Buffer.from((createPrivateKey(signer.keyPem).export({ format: 'jwk' }) as { d: string }).d, 'base64url');
    this.nodeId = createHash('sha256').update(new X509Certificate(signer.certPem).publicKey.export({ format: 'der', type: 'spki' })).digest('hex');
    for (const row of this.db.prepare('SELECT leaf FROM ledger_leaves ORDER BY seqno').iterate() as Iterable<{ leaf: Buffer }>) this.tree.append(row.leaf);
    // Once at start; from then on catchUp counts each new entry as it reads it.
    this.bytes = (this.db.prepare('SELECT coalesce(sum(length(CAST(writes AS BLOB)) + coalesce(length(CAST(claims AS BLOB)), 0)), 0) AS b FROM txlog WHERE seqno <= ?').get(this.tree.size) as { b: number }).b;
  }

  /** Bytes of the write sets (and claims) of the transactions in the Merkle tree, as stored. */
  private bytes = 0;

  /** Transactions in the Merkle tree and their stored size, for the node's metrics (grows at each catch-up, i.e. each signature). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.tree.size, bytes: this.bytes };
  }

  private commitEvidence(seqno: number): string {
    return `ce:${txIdOf(seqno)}:${createHmac('sha256', this.secret).update(`ce:${txIdOf(seqno)}`).digest('hex')}`;
  }

  /** Adds a leaf for every committed transaction that has none yet (including ones the CLI committed). */
  catchUp(): number {
    const from = this.tree.size + 1;
    const rows = this.db.prepare('SELECT seqno, writes, claims FROM txlog WHERE seqno >= ? ORDER BY seqno').all(from) as Array<{ seqno: number; writes: string; claims: string | null }>;
    const insert = this.db.prepare('INSERT INTO ledger_leaves (seqno, write_set_digest, commit_evidence, claims_digest, leaf) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const row of rows) {
        if (row.seqno !== this.tree.size + 1) throw new Error(`ledger gap: expected transaction ${this.tree.size + 1}, found ${row.seqno}`);
        const c: LeafComponents = { write_set_digest: createHash('sha256').update(row.writes).digest('hex'), commit_evidence: this.commitEvidence(row.seqno), claims_digest: row.claims ?? ZERO_CLAIMS };
        const leaf = leafOf(c);
        insert.run(row.seqno, c.write_set_digest, c.commit_evidence, c.claims_digest, leaf);
        this.tree.append(leaf);
        this.bytes += Buffer.byteLength(row.writes) + (row.claims === null ? 0 : Buffer.byteLength(row.claims));
      }
    })();
    return rows.length;
  }

  /** Signs the root over every leaf so far, if anything is new since the last signature. */
  sign(): { seqno: number; root: string } | null {
    this.catchUp();
    const last = this.lastSigned();
    const n = this.tree.size;
    if (n === 0 || n === last) return null;
    const root = this.tree.root();
    this.db.prepare('INSERT INTO ledger_signatures (seqno, root, signature, cert, signed_at) VALUES (?, ?, ?, ?, ?)').run(n, root, signRoot(root, this.scalar), this.signer.certPem, Date.now());
    this.store.wrote();
    return { seqno: n, root: root.toString('hex') };
  }

  /** The node's id as CCF computes it: the SHA-256 of its public key's DER. */
  get id(): string {
    return this.nodeId;
  }

  /** The latest signature's seqno and Merkle root (hex), or null before the first (governance reads it as public:ccf.internal.signatures). */
  lastSignature(): { seqno: number; root: string } | null {
    const row = this.db.prepare('SELECT seqno, root FROM ledger_signatures ORDER BY seqno DESC LIMIT 1').get() as { seqno: number; root: Buffer } | undefined;
    return row ? { seqno: row.seqno, root: Buffer.from(row.root).toString('hex') } : null;
  }

  /** The Merkle root of the latest signature, hex (CCF's state digest), or null before the first. */
  lastSignatureRoot(): string | null {
    return this.lastSignature()?.root ?? null;
  }

  // Prepared once: every app request reads the last committed seqno (its transaction id header), and
  // preparing the statement each time cost more than running it (a tenth of an app request's node CPU).
  private lastSignedStmt: { get(): unknown } | undefined;

  lastSigned(): number {
    this.lastSignedStmt ??= this.db.prepare('SELECT max(seqno) AS s FROM ledger_signatures');
    return (this.lastSignedStmt.get() as { s: number | null }).s ?? 0;
  }

  lastCommitted(): number {
    return this.store.lastSeqno();
  }

  /**
   * CCF's evaluate_tx_status (include/ccf/tx_status.h) for one node in one view: a committed seqno is
   * Committed in VIEW and Invalid in any other; a seqno not yet committed is Invalid in an earlier view
   * (the service has committed past it) and Unknown otherwise.
   */
  status(id: string): TxStatus {
    const tx = parseTxId(id);
    if (!tx) throw new TesseraError('invalid_header_value', `'${id}' is not a transaction id of the form view.seqno`);
    if (tx.seqno <= this.lastCommitted()) return tx.view === VIEW ? 'Committed' : 'Invalid';
    return tx.view < VIEW ? 'Invalid' : 'Unknown';
  }

  /** The receipt for a committed transaction, once a signature covers it; null while none does yet. */
  receipt(id: string): Receipt | null {
    const tx = parseTxId(id);
    if (!tx) throw new TesseraError('invalid_input', `'${id}' is not a transaction id of the form view.seqno`);
    // CCF's historical adapter (src/node/historical_queries_adapter.cpp) words both refusals alike.
    const status = this.status(id);
    if (status === 'Invalid') throw new TesseraError('tx_invalid', `Only committed transactions can be queried. Transaction ${tx.view}.${tx.seqno} is Invalid`);
    if (status !== 'Committed') throw new TesseraError('tx_pending_or_unknown', `Only committed transactions can be queried. Transaction ${tx.view}.${tx.seqno} is ${status}`);
    this.catchUp();
    const sig = this.db.prepare('SELECT seqno, signature, cert FROM ledger_signatures WHERE seqno >= ? ORDER BY seqno LIMIT 1').get(tx.seqno) as
      | { seqno: number; signature: Buffer; cert: string }
      | undefined;
    if (!sig) return null;
    const c = this.db.prepare('SELECT write_set_digest, commit_evidence, claims_digest FROM ledger_leaves WHERE seqno = ?').get(tx.seqno) as LeafComponents;
    return {
      signature: sig.signature.toString('base64'),
      cert: sig.cert,
      node_id: this.nodeId,
      proof: this.tree.proof(tx.seqno - 1, sig.seqno),
      leaf_components: { write_set_digest: c.write_set_digest, commit_evidence: c.commit_evidence, claims_digest: c.claims_digest },
    };
  }
}
