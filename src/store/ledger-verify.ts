import { X509Certificate, createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { TesseraError } from '../errors/index.js';
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
    return checkLedger(
      {
        txs: db.prepare('SELECT seqno, writes FROM txlog ORDER BY seqno').all() as LedgerRows['txs'],
        leaves: db.prepare('SELECT * FROM ledger_leaves').all() as LedgerRows['leaves'],
        signatures: db.prepare('SELECT seqno, root, signature, cert FROM ledger_signatures ORDER BY seqno').all() as LedgerRows['signatures'],
      },
      serviceCertPem,
      onProgress,
    );
  } finally {
    db.close();
  }
}

/**
 * The same check on a PostgreSQL store (postgres.ts's layout, in `schema`), on a connection of its own,
 * read in one REPEATABLE READ snapshot so that nodes committing meanwhile do not make it see half a signature.
 */
export async function verifyPostgresLedger(
  connection: string | Pick<pg.ClientConfig, 'host' | 'port' | 'user' | 'password' | 'database'>,
  schema: string | undefined,
  serviceCertPem: string,
  onProgress?: (done: number, total: number) => void,
): Promise<LedgerReport> {
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new TesseraError('invalid_input', `'${schema}' is not a plain PostgreSQL schema name`);
  // Loaded here: `tessera ledger verify` on a SQLite file does not load a PostgreSQL client.
  const { default: pgm } = await import('pg');
  const c = new pgm.Client(typeof connection === 'string' ? { connectionString: connection } : connection);
  c.on('error', () => {});
  await c.connect();
  try {
    if (schema) await c.query(`SET search_path = ${schema}`);
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const txs = (await c.query('SELECT seqno, writes FROM txlog ORDER BY seqno')).rows.map((r) => ({ seqno: Number(r.seqno), writes: r.writes as string }));
    const leaves = (await c.query('SELECT * FROM ledger_leaves')).rows.map((r) => ({ ...r, seqno: Number(r.seqno) }));
    const signatures = (await c.query('SELECT seqno, root, signature, cert FROM ledger_signatures ORDER BY seqno')).rows.map((r) => ({ ...r, seqno: Number(r.seqno) }));
    await c.query('COMMIT');
    return checkLedger({ txs, leaves, signatures }, serviceCertPem, onProgress);
  } finally {
    await c.end().catch(() => {});
  }
}

/** The ledger's rows as stored, on any backend. */
export interface LedgerRows {
  txs: Array<{ seqno: number; writes: string }>;
  leaves: Array<LeafComponents & { seqno: number; leaf: Buffer }>;
  signatures: Array<{ seqno: number; root: Buffer; signature: Buffer; cert: string }>;
}

export function checkLedger({ txs, leaves, signatures: sigs }: LedgerRows, serviceCertPem: string, onProgress?: (done: number, total: number) => void): LedgerReport {
  const problems: string[] = [];
  const service = new X509Certificate(serviceCertPem);
  const leafRows = new Map(leaves.map((r) => [r.seqno, r]));
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
}
