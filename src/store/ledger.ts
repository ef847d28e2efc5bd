import { createHash, createHmac, createPrivateKey, X509Certificate } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import { type LeafComponents, MerkleTree, leafOf } from './merkle.js';
import { type Receipt, signRoot } from './receipt.js';
import type { LedgerBackend, LedgerStore, StoredLeaf } from './types.js';

// The verifiable ledger over the Store's transaction log. Every committed write transaction is a leaf;
// the node signs the Merkle root over all leaves so far at an interval; any signed transaction then has
// a receipt a client can check offline (src/store/receipt.ts). The leaves and signatures live in the store
// (LedgerBackend, types.ts), SQLite's or PostgreSQL's; on PostgreSQL several nodes share them, one signs
// (LedgerOptions.canSign) and every one serves receipts. There is one node and no election, so
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
/** Leaves and log rows are read in batches of this many: one round trip each on PostgreSQL, and a bounded message. */
const BATCH = 10_000;

export interface LedgerOptions {
  /**
   * Whether this node may sign now (and so extend the stored leaves). Several nodes sharing one database
   * each have a Ledger, but only the holder of the signing lease (postgres-lease.ts) may sign: the node wires
   * this to SigningLease.held(). A Ledger that may not sign still serves receipts from the stored leaves and
   * signatures, whichever node made them. Default: always (one node on its own store).
   */
  canSign?: () => boolean;
}

export class Ledger {
  private readonly tree = new MerkleTree();
  private readonly tables: LedgerBackend;
  private readonly store: LedgerStore;
  private readonly scalar: Buffer;
  private readonly nodeId: string;
  private readonly canSign: () => boolean;
  /** Node ids of signing certificates seen in receipts (on a shared database, other nodes' too). */
  private readonly idsOfCerts = new Map<string, string>();

  constructor(
    store: LedgerStore,
    /** Secret from which commit evidence is derived (the same on every node sharing a store, or their leaves differ). */
    private readonly secret: Buffer,
    private readonly signer: LedgerSigner,
    options: LedgerOptions = {},
  ) {
    this.store = store;
    this.tables = store.ledgerTables;
    this.canSign = options.canSign ?? (() => true);
    this.scalar = Buffer.from((createPrivateKey(signer.keyPem).export({ format: 'jwk' }) as { d: string }).d, 'base64url');
    this.nodeId = nodeIdOf(signer.certPem);
    this.loadStored();
    // Once at start; from then on catchUp counts each new entry as it reads it.
    this.bytes = this.tree.size ? this.tables.loggedBytes(1, this.tree.size) : 0;
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

  /** Appends the stored leaves the tree does not have yet (another node's, on a shared store); returns how many. */
  private loadStored(): number {
    const before = this.tree.size;
    for (;;) {
      const rows = this.tables.leaves(this.tree.size, BATCH);
      for (const row of rows) {
        if (row.seqno !== this.tree.size + 1) throw new Error(`ledger gap: expected leaf ${this.tree.size + 1}, found ${row.seqno}`);
        this.tree.append(Buffer.from(row.leaf));
      }
      if (rows.length < BATCH) return this.tree.size - before;
    }
  }

  /**
   * Brings the tree up to the store: first the leaves already stored (by another node, on a shared
   * database), then, if this node may sign, a leaf for every committed transaction that has none yet
   * (including ones the CLI or another node committed), taken from the shared txlog in seqno order.
   * Returns how many leaves the tree gained.
   */
  catchUp(): number {
    const start = this.tree.size;
    if (this.loadStored()) this.bytes += this.tables.loggedBytes(start + 1, this.tree.size);
    if (!this.canSign()) return this.tree.size - start;
    for (;;) {
      const rows = this.tables.logged(this.tree.size, BATCH);
      if (rows.length === 0) break;
      const leaves: StoredLeaf[] = [];
      let bytes = 0;
      for (const [i, row] of rows.entries()) {
        if (row.seqno !== this.tree.size + 1 + i) throw new Error(`ledger gap: expected transaction ${this.tree.size + 1 + i}, found ${row.seqno}`);
        const c: LeafComponents = { write_set_digest: createHash('sha256').update(row.writes).digest('hex'), commit_evidence: this.commitEvidence(row.seqno), claims_digest: row.claims ?? ZERO_CLAIMS };
        leaves.push({ seqno: row.seqno, ...c, leaf: leafOf(c) });
        bytes += Buffer.byteLength(row.writes) + (row.claims === null ? 0 : Buffer.byteLength(row.claims));
      }
      if (this.tables.appendLeaves(leaves)) {
        for (const l of leaves) this.tree.append(l.leaf);
        this.bytes += bytes;
      } else {
        // Another node stored some of them first: the stored ones are the tree, whatever this node computed.
        const before = this.tree.size;
        this.loadStored();
        this.bytes += this.tables.loggedBytes(before + 1, this.tree.size);
      }
      if (rows.length < BATCH) break;
    }
    return this.tree.size - start;
  }

  /**
   * Signs the root over every leaf so far, if anything is new since the last signature (this node's or
   * another's) and this node may sign now; a node that may not only catches up with the stored leaves.
   */
  sign(): { seqno: number; root: string } | null {
    this.catchUp();
    if (!this.canSign()) return null;
    const last = this.lastSigned();
    const n = this.tree.size;
    // n < last: a signature past this tree appeared after the catch-up (a signer that lost the lease finishing); nothing to add.
    if (n === 0 || n <= last) return null;
    const root = this.tree.root();
    if (!this.tables.appendSignature({ seqno: n, root, signature: signRoot(root, this.scalar), cert: this.signer.certPem, signedAt: Date.now() })) return null;
    return { seqno: n, root: root.toString('hex') };
  }

  /** The node's id as CCF computes it: the SHA-256 of its public key's DER. */
  get id(): string {
    return this.nodeId;
  }

  /** The latest signature's seqno and Merkle root (hex), or null before the first (governance reads it as public:ccf.internal.signatures). */
  lastSignature(): { seqno: number; root: string } | null {
    const row = this.tables.lastSignature();
    return row ? { seqno: row.seqno, root: Buffer.from(row.root).toString('hex') } : null;
  }

  /** The Merkle root of the latest signature, hex (CCF's state digest), or null before the first. */
  lastSignatureRoot(): string | null {
    return this.lastSignature()?.root ?? null;
  }

  lastSigned(): number {
    return this.tables.lastSigned();
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
    const sig = this.tables.signatureCovering(tx.seqno);
    if (!sig) return null;
    // Signed (by another node) after this catch-up read the leaves: its leaves are stored by now.
    if (sig.seqno > this.tree.size) this.catchUp();
    if (sig.seqno > this.tree.size) throw new TesseraError('internal', `the signature at ${txIdOf(sig.seqno)} covers leaves that are not stored`);
    const c = this.tables.leafAt(tx.seqno);
    if (!c) throw new TesseraError('internal', `transaction ${txIdOf(tx.seqno)} is signed but has no stored leaf`);
    let signerId = this.idsOfCerts.get(sig.cert);
    if (signerId === undefined) this.idsOfCerts.set(sig.cert, (signerId = sig.cert === this.signer.certPem ? this.nodeId : nodeIdOf(sig.cert)));
    return {
      signature: Buffer.from(sig.signature).toString('base64'),
      cert: sig.cert,
      // The node that signed, as in CCF's receipts: on a shared store, not necessarily this one.
      node_id: signerId,
      proof: this.tree.proof(tx.seqno - 1, sig.seqno),
      leaf_components: { write_set_digest: c.write_set_digest, commit_evidence: c.commit_evidence, claims_digest: c.claims_digest },
    };
  }
}

/** CCF's node id: the SHA-256 of the node certificate's public key, DER. */
const nodeIdOf = (certPem: string) => createHash('sha256').update(new X509Certificate(certPem).publicKey.export({ format: 'der', type: 'spki' })).digest('hex');
