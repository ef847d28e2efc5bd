import { type MessagePort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { sealLedgerWrite } from './ledger-seal.js';
import { isUnavailable } from './postgres-errors.js';
import { SEALED_TABLE_PREFIX, isPublicTable } from './sealed-rows.js';
import type { CommittedWrite } from './types.js';

// The thread that owns PostgresStore's connections (postgres.ts has the why). It takes one request at a time
// from the store's port, runs it on PostgreSQL, posts the answer, then bumps the shared counter and notifies,
// which wakes the main thread blocked in Atomics.wait. Two connections: `wr` for commits and reads outside a
// snapshot, `rd` for read(fn)'s REPEATABLE READ snapshot, so that a commit made inside a read never runs in it.
// A connection that fails is dropped and made again by the next request: an outage fails requests, never
// this thread, and the store works again once PostgreSQL is back.

export interface WorkerInit {
  port: MessagePort;
  signal: SharedArrayBuffer;
  connection: pg.ClientConfig;
  /** search_path, already checked to be a plain identifier. */
  schema: string | undefined;
  ledgerKey: Uint8Array | undefined;
  queryTimeoutMs: number;
}

/** A write as the worker needs it: where it is stored and what (null: delete), and the logical write for the ledger. */
export interface WireWrite {
  st: string;
  sk: string;
  v: string | Uint8Array | null;
  w: CommittedWrite;
}

export type Request = { id: number; read?: number } & (
  | { op: 'init'; sealed: boolean }
  | { op: 'get' | 'ver'; t: string; k: string }
  | { op: 'list'; t: string; prefix?: string }
  | { op: 'getMany'; t: string; keys: string[] }
  | { op: 'tver'; t: string }
  | { op: 'seq' }
  | { op: 'entries'; from: number; limit: number }
  | { op: 'commit'; reads: Array<[string, string, number]>; tableReads: Array<[string, number]>; writes: WireWrite[]; claims: string | null }
  | { op: 'readEnd' }
  | { op: 'close' }
  | { op: 'txAt'; seqno: number }
  | { op: 'leaves'; after: number; limit: number }
  | { op: 'leafAt'; seqno: number }
  | { op: 'addLeaves'; leaves: Array<{ seqno: number; write_set_digest: string; commit_evidence: string; claims_digest: string; leaf: Uint8Array }> }
  | { op: 'logged'; after: number; limit: number }
  | { op: 'loggedBytes'; from: number; to: number }
  | { op: 'addSig'; seqno: number; root: Uint8Array; signature: Uint8Array; cert: string; signedAt: number }
  | { op: 'lastSig' }
  | { op: 'lastSigned' }
  | { op: 'sigCovering'; seqno: number }
);

export interface WireError {
  code: 'conflict' | 'unavailable' | 'insufficient_storage' | 'invalid_input' | 'internal';
  message: string;
}
export type Reply = { id: number; ok: unknown } | { id: number; err: WireError };

/** The layout of the PostgreSQL store; store_meta's 'schema version' row names it, as in schema.ts for SQLite. */
export const PG_SCHEMA_VERSION = 1;
const LAYOUT = `
CREATE TABLE IF NOT EXISTS kv (tbl text COLLATE "C" NOT NULL, key bytea NOT NULL, value bytea NOT NULL, version bigint NOT NULL, PRIMARY KEY (tbl, key));
CREATE TABLE IF NOT EXISTS table_versions (tbl text COLLATE "C" PRIMARY KEY, version bigint NOT NULL);
CREATE TABLE IF NOT EXISTS txlog (seqno bigint PRIMARY KEY, committed_at bigint NOT NULL, writes text NOT NULL, claims text);
CREATE TABLE IF NOT EXISTS store_meta (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS seqno_counter (one boolean PRIMARY KEY DEFAULT true CHECK (one), seqno bigint NOT NULL);
INSERT INTO seqno_counter (one, seqno) VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS ledger_leaves (seqno bigint PRIMARY KEY, write_set_digest text NOT NULL, commit_evidence text NOT NULL, claims_digest text NOT NULL, leaf bytea NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_signatures (seqno bigint PRIMARY KEY, root bytea NOT NULL, signature bytea NOT NULL, cert text NOT NULL, signed_at bigint NOT NULL);
`;
// The ledger's tables (ledger.ts, as SQLite's in schema.ts) came after version 1 was first written; IF NOT
// EXISTS adds them to such a database at its next start, and a Tessera that predates them ignores them, so
// the version stays 1.
/** Serializes the layout's creation between processes (CREATE … IF NOT EXISTS races otherwise). */
const INIT_LOCK = '7310582947100213';
const ROWS_SEALED = 'rows sealed v1';

class Refusal extends Error {
  constructor(
    readonly code: 'conflict' | 'invalid_input',
    message: string,
  ) {
    super(message);
  }
}

const init = workerData as WorkerInit;
const flag = new Int32Array(init.signal);
const ledgerKey = init.ledgerKey ? Buffer.from(init.ledgerKey) : undefined;

interface Slot {
  client: pg.Client | null;
}
const wr: Slot = { client: null };
const rd: Slot = { client: null };
/** The read(fn) whose snapshot is open on rd, and the client it is open on. */
let snapshot: { read: number; client: pg.Client } | null = null;

async function connect(slot: Slot): Promise<pg.Client> {
  if (slot.client) return slot.client;
  const options = [`-c synchronous_commit=on`, ...(init.schema ? [`-c search_path=${init.schema}`] : [])].join(' ');
  const c = new pg.Client({ ...init.connection, options, query_timeout: init.queryTimeoutMs, connectionTimeoutMillis: init.queryTimeoutMs, keepAlive: true });
  const drop = () => {
    if (slot.client === c) slot.client = null;
  };
  c.on('error', drop);
  c.on('end', drop);
  slot.client = c;
  try {
    await c.connect();
  } catch (err) {
    drop();
    c.end().catch(() => {});
    throw err;
  }
  return c;
}

/** Drops a connection after a failure that may leave it unusable (a timeout, a lost socket). */
function discard(slot: Slot, c: pg.Client | null): void {
  if (!c || slot.client !== c) return;
  slot.client = null;
  c.end().catch(() => {});
}

const bytes = (s: string) => Buffer.from(s, 'utf8');
const num = (v: unknown) => Number(v);
/** A stored value for the main thread: a sealed table's bytes (copied off pg's pooled buffer), else its JSON text. */
const valueOut = (tbl: string, v: Buffer) => (tbl.startsWith(SEALED_TABLE_PREFIX) ? new Uint8Array(v) : v.toString('utf8'));

async function run(req: Request): Promise<unknown> {
  if (req.op === 'readEnd') {
    const open = snapshot;
    snapshot = null;
    if (open && rd.client === open.client) await open.client.query('COMMIT').catch(() => discard(rd, open.client));
    return undefined;
  }
  if (req.op === 'close') {
    await Promise.all([wr.client?.end().catch(() => {}), rd.client?.end().catch(() => {})]);
    wr.client = rd.client = null;
    return undefined;
  }
  if (req.op === 'init') return initialize(req.sealed);
  if (req.op === 'commit') return commit(req);
  const c = req.read === undefined ? await connect(wr) : await inSnapshot(req.read);
  const q = (text: string, values: unknown[]) => c.query(text, values);
  switch (req.op) {
    case 'get': {
      const r = await q('SELECT value, version FROM kv WHERE tbl = $1 AND key = $2', [req.t, bytes(req.k)]);
      return r.rows[0] ? [valueOut(req.t, r.rows[0].value), num(r.rows[0].version)] : null;
    }
    case 'ver': {
      const r = await q('SELECT version FROM kv WHERE tbl = $1 AND key = $2', [req.t, bytes(req.k)]);
      return r.rows[0] ? num(r.rows[0].version) : null;
    }
    case 'list': {
      // bytea compares bytewise, as SQLite's BINARY collation compares UTF-8; 0xff never occurs in UTF-8, so
      // prefix‖0xff bounds every key that starts with prefix.
      const r =
        req.prefix === undefined
          ? await q('SELECT key, value, version FROM kv WHERE tbl = $1 ORDER BY key', [req.t])
          : await q('SELECT key, value, version FROM kv WHERE tbl = $1 AND key >= $2 AND key < $3 ORDER BY key', [req.t, bytes(req.prefix), Buffer.concat([bytes(req.prefix), Buffer.from([0xff])])]);
      return r.rows.map((row) => [row.key.toString('utf8'), valueOut(req.t, row.value), num(row.version)]);
    }
    case 'getMany': {
      const r = await q('SELECT key, value, version FROM kv WHERE tbl = $1 AND key = ANY($2::bytea[])', [req.t, req.keys.map(bytes)]);
      return r.rows.map((row) => [row.key.toString('utf8'), valueOut(req.t, row.value), num(row.version)]);
    }
    case 'tver': {
      const r = await q('SELECT version FROM table_versions WHERE tbl = $1', [req.t]);
      return r.rows[0] ? num(r.rows[0].version) : 0;
    }
    case 'seq':
      return num((await q('SELECT seqno FROM seqno_counter', [])).rows[0]?.seqno ?? 0);
    case 'txAt': {
      const r = await q('SELECT writes FROM txlog WHERE seqno = $1', [req.seqno]);
      return r.rows[0]?.writes;
    }
    case 'leaves': {
      const r = await q('SELECT seqno, leaf FROM ledger_leaves WHERE seqno > $1 ORDER BY seqno LIMIT $2', [req.after, req.limit]);
      return r.rows.map((row) => ({ seqno: num(row.seqno), leaf: new Uint8Array(row.leaf) }));
    }
    case 'leafAt': {
      const r = await q('SELECT seqno, write_set_digest, commit_evidence, claims_digest, leaf FROM ledger_leaves WHERE seqno = $1', [req.seqno]);
      const row = r.rows[0];
      return row ? { ...row, seqno: num(row.seqno), leaf: new Uint8Array(row.leaf) } : undefined;
    }
    case 'addLeaves': {
      // One statement, so all or none; a leaf another node stored first is kept (the caller reloads then).
      const l = req.leaves;
      const r = await q(
        'INSERT INTO ledger_leaves (seqno, write_set_digest, commit_evidence, claims_digest, leaf) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[]) ON CONFLICT (seqno) DO NOTHING',
        [l.map((x) => x.seqno), l.map((x) => x.write_set_digest), l.map((x) => x.commit_evidence), l.map((x) => x.claims_digest), l.map((x) => Buffer.from(x.leaf))],
      );
      return r.rowCount === l.length;
    }
    case 'logged': {
      const r = await q('SELECT seqno, writes, claims FROM txlog WHERE seqno > $1 ORDER BY seqno LIMIT $2', [req.after, req.limit]);
      return r.rows.map((row) => ({ seqno: num(row.seqno), writes: row.writes, claims: row.claims }));
    }
    case 'loggedBytes': {
      const r = await q('SELECT coalesce(sum(octet_length(writes) + coalesce(octet_length(claims), 0)), 0) AS b FROM txlog WHERE seqno >= $1 AND seqno <= $2', [req.from, req.to]);
      return num(r.rows[0].b);
    }
    case 'addSig': {
      const r = await q('INSERT INTO ledger_signatures (seqno, root, signature, cert, signed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seqno) DO NOTHING', [
        req.seqno,
        Buffer.from(req.root),
        Buffer.from(req.signature),
        req.cert,
        req.signedAt,
      ]);
      return r.rowCount === 1;
    }
    case 'lastSig': {
      const r = await q('SELECT seqno, root FROM ledger_signatures ORDER BY seqno DESC LIMIT 1', []);
      return r.rows[0] ? { seqno: num(r.rows[0].seqno), root: new Uint8Array(r.rows[0].root) } : null;
    }
    case 'lastSigned':
      return num((await q('SELECT max(seqno) AS s FROM ledger_signatures', [])).rows[0].s ?? 0);
    case 'sigCovering': {
      const r = await q('SELECT seqno, root, signature, cert, signed_at FROM ledger_signatures WHERE seqno >= $1 ORDER BY seqno LIMIT 1', [req.seqno]);
      const row = r.rows[0];
      return row ? { seqno: num(row.seqno), root: new Uint8Array(row.root), signature: new Uint8Array(row.signature), cert: row.cert, signedAt: num(row.signed_at) } : null;
    }
    case 'entries': {
      const r = await q('SELECT seqno, committed_at, writes FROM txlog WHERE seqno >= $1 ORDER BY seqno LIMIT $2', [req.from, req.limit]);
      return r.rows.map((row) => ({ seqno: num(row.seqno), committedAt: num(row.committed_at), writes: JSON.parse(row.writes) }));
    }
  }
}

/** The connection of read(fn) number `read`: its snapshot begins at its first query and lasts until readEnd. */
async function inSnapshot(read: number): Promise<pg.Client> {
  if (snapshot?.read === read) {
    // A snapshot cannot be resumed on a new connection: the read would no longer be consistent.
    if (rd.client !== snapshot.client) throw Object.assign(new Error('the connection to PostgreSQL was lost during a read'), { lost: true });
    return snapshot.client;
  }
  if (snapshot && rd.client === snapshot.client) await snapshot.client.query('COMMIT').catch(() => discard(rd, snapshot!.client));
  snapshot = null;
  const c = await connect(rd);
  await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  snapshot = { read, client: c };
  return c;
}

async function initialize(sealed: boolean): Promise<unknown> {
  const c = await connect(wr);
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [INIT_LOCK]);
    if (init.schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${init.schema}`);
    await c.query(LAYOUT);
    await c.query("INSERT INTO store_meta (name, value) VALUES ('schema version', $1) ON CONFLICT DO NOTHING", [String(PG_SCHEMA_VERSION)]);
    const found = Number((await c.query("SELECT value FROM store_meta WHERE name = 'schema version'")).rows[0].value);
    if (!(found <= PG_SCHEMA_VERSION)) {
      throw new Refusal('invalid_input', `the PostgreSQL store has schema version ${found}, but this Tessera knows versions up to ${PG_SCHEMA_VERSION}: it was written by a newer Tessera; run that version. The store was not changed.`);
    }
    if (sealed && (await c.query('SELECT 1 FROM store_meta WHERE name = $1', [ROWS_SEALED])).rowCount === 0) {
      // sqlite.ts seals a store's clear rows in place once; here a keyed store never had any, and one that does is refused.
      const clear = await c.query(`SELECT 1 FROM kv WHERE left(tbl, 7) <> 'public:' AND left(tbl, 1) <> $1 LIMIT 1`, [SEALED_TABLE_PREFIX]);
      if (clear.rowCount) throw new Refusal('invalid_input', 'the PostgreSQL store holds private rows in the clear (written without a row key); it cannot be opened with one');
      await c.query('INSERT INTO store_meta (name, value) VALUES ($1, $2)', [ROWS_SEALED, new Date().toISOString()]);
    }
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
  return PG_SCHEMA_VERSION;
}

/**
 * Checks the read set and applies the write set in one transaction. The counter row is updated first: its
 * row lock makes commits from every process take turns, so the statements after it (each with a fresh
 * snapshot under READ COMMITTED) see every earlier commit, and the number is the next one with no gap, as a
 * transaction that rolls back (a conflict, a lost connection) rolls the counter back with it.
 */
async function commit(req: Extract<Request, { op: 'commit' }>): Promise<unknown> {
  const c = await connect(wr);
  try {
    await c.query('BEGIN');
    const seqno = num((await c.query('UPDATE seqno_counter SET seqno = seqno + 1 RETURNING seqno')).rows[0].seqno);
    if (req.reads.length) {
      const r = await c.query(
        'SELECT 1 FROM unnest($1::text[], $2::bytea[], $3::bigint[]) AS r(t, k, v) LEFT JOIN kv ON kv.tbl = r.t AND kv.key = r.k WHERE coalesce(kv.version, 0) <> r.v LIMIT 1',
        [req.reads.map((x) => x[0]), req.reads.map((x) => bytes(x[1])), req.reads.map((x) => x[2])],
      );
      if (r.rowCount) throw new Refusal('conflict', 'read set changed');
    }
    if (req.tableReads.length) {
      const r = await c.query(
        'SELECT 1 FROM unnest($1::text[], $2::bigint[]) AS r(t, v) LEFT JOIN table_versions tv ON tv.tbl = r.t WHERE coalesce(tv.version, 0) <> r.v LIMIT 1',
        [req.tableReads.map((x) => x[0]), req.tableReads.map((x) => x[1])],
      );
      if (r.rowCount) throw new Refusal('conflict', 'table read set changed');
    }
    const dels = req.writes.filter((w) => w.v === null);
    const puts = req.writes.filter((w) => w.v !== null);
    // Tables whose key set changes (by stored name), with the stored keys added and removed: for the key indexes.
    const touched = new Map<string, { added: string[]; removed: string[] }>();
    const touch = (st: string) => touched.get(st) ?? touched.set(st, { added: [], removed: [] }).get(st)!;
    if (dels.length) {
      const r = await c.query('DELETE FROM kv USING unnest($1::text[], $2::bytea[]) AS d(t, k) WHERE kv.tbl = d.t AND kv.key = d.k RETURNING kv.tbl, kv.key', [dels.map((w) => w.st), dels.map((w) => bytes(w.sk))]);
      for (const row of r.rows) touch(row.tbl).removed.push(row.key.toString('utf8'));
    }
    if (puts.length) {
      const t = puts.map((w) => w.st);
      const k = puts.map((w) => bytes(w.sk));
      const existing = await c.query('SELECT kv.tbl, kv.key FROM kv JOIN unnest($1::text[], $2::bytea[]) AS u(t, k) ON kv.tbl = u.t AND kv.key = u.k', [t, k]);
      const had = new Set(existing.rows.map((row) => `${row.tbl}\0${row.key.toString('utf8')}`));
      for (const w of puts) if (!had.has(`${w.st}\0${w.sk}`)) touch(w.st).added.push(w.sk);
      await c.query(
        'INSERT INTO kv (tbl, key, value, version) SELECT t, k, v, $4 FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS u(t, k, v) ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value, version = excluded.version',
        [t, k, puts.map((w) => (typeof w.v === 'string' ? bytes(w.v) : Buffer.from(w.v!.buffer, w.v!.byteOffset, w.v!.byteLength))), seqno],
      );
    }
    const tables = [...touched.keys()];
    const before = new Map<string, number>();
    if (tables.length) {
      const r = await c.query('SELECT tbl, version FROM table_versions WHERE tbl = ANY($1::text[])', [tables]);
      for (const row of r.rows) before.set(row.tbl, num(row.version));
      await c.query('INSERT INTO table_versions (tbl, version) SELECT t, $2 FROM unnest($1::text[]) AS u(t) ON CONFLICT (tbl) DO UPDATE SET version = excluded.version', [tables, seqno]);
    }
    // The ledger's form of each write is sealed here, where the sequence number it is bound to is known.
    const ledger = req.writes.map(({ st, w }) => (!ledgerKey || isPublicTable(w.table) ? w : sealLedgerWrite(ledgerKey, seqno, st, w)));
    await c.query('INSERT INTO txlog (seqno, committed_at, writes, claims) VALUES ($1, $2, $3, $4)', [seqno, Date.now(), JSON.stringify(ledger), req.claims]);
    await c.query('COMMIT');
    return { seqno, touched: tables.map((st) => ({ st, from: before.get(st) ?? 0, ...touched.get(st)! })) };
  } catch (err) {
    if (wr.client === c) await c.query('ROLLBACK').catch(() => discard(wr, c));
    throw err;
  }
}


function describe(err: unknown): WireError {
  if (err instanceof Refusal) return { code: err.code, message: err.message };
  const e = err as { code?: string; message?: string };
  if (e.code === '40001' || e.code === '40P01') return { code: 'conflict', message: 'serialization failure' };
  if (e.code === '53100') return { code: 'insufficient_storage', message: 'PostgreSQL has no room for the change (disk full); it was not made' };
  if (isUnavailable(err)) return { code: 'unavailable', message: e.message ?? String(err) };
  // The message only: PostgreSQL's detail may quote row contents.
  return { code: 'internal', message: `PostgreSQL refused a store operation (SQLSTATE ${e.code}): ${e.message}` };
}

let queue = Promise.resolve();
init.port.on('message', (req: Request) => {
  queue = queue.then(async () => {
    let reply: Reply;
    try {
      reply = { id: req.id, ok: await run(req) };
    } catch (err) {
      // A failure that may leave a connection mid-protocol (a timeout): make new ones next time.
      if (isUnavailable(err)) {
        discard(wr, wr.client);
        discard(rd, rd.client);
      }
      reply = { id: req.id, err: describe(err) };
    }
    if (req.op === 'readEnd') return; // nobody waits for it
    init.port.postMessage(reply);
    Atomics.add(flag, 0, 1);
    Atomics.notify(flag, 0);
  });
});
