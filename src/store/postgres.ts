import { type MessagePort, MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type pg from 'pg';
import { TesseraError } from '../errors/index.js';
import { ConflictError, OptimisticTx, type TxBackend, transactWithRetry } from './optimistic-tx.js';
import type { Reply, Request, WireError, WireWrite, WorkerInit } from './postgres-worker.js';
import { RowSealer, isPublicTable } from './sealed-rows.js';
import { HistoricalCache, tableStateOf } from './historical-cache.js';
import { unsealLedgerWrite } from './ledger-seal.js';
import type { CommittedWrite, LedgerBackend, LedgerEntry, LedgerStore, LoggedTx, PendingTx, ReadTx, StoredLeaf, StoredSignature, Tx } from './types.js';

// The Store on PostgreSQL, for several nodes sharing one state (issue 22). Same guarantees as sqlite.ts:
// rows of JSON by (table, key), each with the seqno of its last write; optimistic transactions checked at
// commit against their read set (rows, and listed tables' versions, so a phantom insert is a conflict); a
// global, gap-free sequence number per commit across every process on the database (postgres-worker.ts);
// the txlog with private tables' writes sealed by the ledger key, and private rows sealed by RowSealer.
//
// The Store interface is synchronous and called so in many places, while every PostgreSQL client for Node
// is asynchronous. So a worker thread (postgres-worker.ts) owns the connections, and each operation here
// posts a request on a MessagePort and blocks in Atomics.wait on a SharedArrayBuffer until the worker has
// posted the answer and notified; the answer is then taken with receiveMessageOnPort.
//
// THE COST: every get, list, versionOf, version(), lastSeqno() and commit is a full round trip
// (main → worker → PostgreSQL → worker → main), and the event loop is blocked for all of it: nothing else
// on this thread runs meanwhile. test/store/postgres.test.ts measures it on a local unix socket (its
// diagnostic prints ops/s for a get and for a one-write commit). A commit is one round trip from here but
// about eight statements on the worker's connection. Every wait has a deadline (`timeoutMs`): a PostgreSQL
// that does not answer gives TesseraError 'unavailable', never a hang; the worker drops its connections
// after such a failure and makes new ones on the next request, so the store works again once it is back.
//
// Durability: the worker's sessions run with synchronous_commit=on, so a commit returns only once
// PostgreSQL has flushed its WAL (and, with synchronous standbys configured, once they have it): durable()
// has nothing left to wait for.

export interface PostgresStoreOptions {
  /** A connection string, or pg's connection settings (host may be a unix socket directory). */
  connection: string | Pick<pg.ClientConfig, 'host' | 'port' | 'user' | 'password' | 'database'>;
  /** The PostgreSQL schema to keep the tables in (created if missing); default: the connection's search_path. */
  schema?: string;
  /** Seals private tables' writes in the txlog. Without it they are in the clear: tests only. */
  ledgerKey?: Buffer;
  /** Seals private tables' rows (sealed-rows.ts). Without it they are in the clear: tests only. */
  rowKey?: Buffer;
  /** How long one operation may wait for PostgreSQL before it fails as 'unavailable'. Default 10 s. */
  timeoutMs?: number;
}

type Op = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
type Row = [string, string | Uint8Array, number];

const text = (v: string | Uint8Array) => (typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8'));
const buf = (v: string | Uint8Array) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength));

export class PostgresStore implements LedgerStore {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal: Int32Array;
  private readonly timeoutMs: number;
  private readonly sealer: RowSealer | undefined;
  private readonly ledgerKey: Buffer | undefined;
  private nextId = 1;
  private closed = false;
  /** The read(fn) in progress (its snapshot), and how deeply read() calls are nested in it. */
  private reading: number | undefined;
  private readDepth = 0;
  private reads = 0;
  /** Real keys of each listed private table, sorted, as of the table's version (sqlite.ts has the why). */
  private readonly keyIndexes = new Map<string, { version: number; keys: string[] }>();
  /** Round trips to the worker, and transactions committed by this store (tests and metrics). */
  readonly stats = { roundTrips: 0, commits: 0 };

  constructor(options: PostgresStoreOptions) {
    if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
      throw new TesseraError('invalid_input', `'${options.schema}' is not a plain PostgreSQL schema name (lower-case letters, digits and _)`);
    }
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.sealer = options.rowKey ? new RowSealer(options.rowKey) : undefined;
    this.ledgerKey = options.ledgerKey;
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.signal = new Int32Array(new SharedArrayBuffer(4));
    const init: WorkerInit = {
      port: port2,
      signal: this.signal.buffer as SharedArrayBuffer,
      connection: typeof options.connection === 'string' ? { connectionString: options.connection } : { ...options.connection },
      schema: options.schema,
      ledgerKey: options.ledgerKey ? new Uint8Array(options.ledgerKey) : undefined,
      // The worker gives up a little before we do, so that its answer (and its reset) usually comes first.
      queryTimeoutMs: Math.max(100, Math.floor(this.timeoutMs * 0.8)),
    };
    this.worker = new Worker(new URL('./postgres-worker.js', import.meta.url), { workerData: init, transferList: [port2] });
    this.worker.unref();
    this.worker.on('error', () => {}); // a dead worker shows as 'unavailable' on the next wait
    try {
      this.call({ op: 'init', sealed: this.sealer !== undefined });
    } catch (err) {
      this.shutdown();
      throw err;
    }
  }

  /** Posts one request and blocks until its answer, or until timeoutMs has passed. */
  private call(op: Op): unknown {
    if (this.closed) throw new TesseraError('unavailable', 'the PostgreSQL store is closed');
    const id = this.nextId++;
    this.stats.roundTrips++;
    this.port.postMessage({ ...op, id });
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      // Loaded before the port is read: an answer posted after the read changes it, so the wait returns at once.
      const seen = Atomics.load(this.signal, 0);
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
        const reply = m.message as Reply;
        if (reply.id !== id) continue; // the late answer to a request that already timed out
        if ('err' in reply) throw this.failure(reply.err, op.op);
        return reply.ok;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const unknown = op.op === 'commit' ? '; whether the transaction committed is unknown' : '';
        throw new TesseraError('unavailable', `PostgreSQL did not answer within ${this.timeoutMs} ms (${op.op})${unknown}`, { retryAfterSeconds: 1 });
      }
      Atomics.wait(this.signal, 0, seen, left);
    }
  }

  private failure(err: WireError, op: string): Error {
    if (err.code === 'conflict') return new ConflictError();
    if (err.code === 'unavailable') {
      const unknown = op === 'commit' ? '; whether the transaction committed is unknown' : '';
      return new TesseraError('unavailable', `PostgreSQL is unavailable (${err.message})${unknown}`, { retryAfterSeconds: 1 });
    }
    return new TesseraError(err.code, err.message);
  }

  begin(): PendingTx {
    return new OptimisticTx(this.backend(undefined));
  }

  transact<T>(fn: (tx: Tx) => T): { result: T; seqno: number | null } {
    return transactWithRetry(() => this.begin(), fn);
  }

  /** Runs `fn` on one REPEATABLE READ snapshot (begun by its first query, ended here). */
  read<T>(fn: (tx: ReadTx) => T): T {
    if (this.readDepth > 0) {
      this.readDepth++;
      try {
        return fn(new OptimisticTx(this.backend(this.reading)));
      } finally {
        this.readDepth--;
      }
    }
    this.reading = ++this.reads;
    this.readDepth = 1;
    try {
      return fn(new OptimisticTx(this.backend(this.reading)));
    } finally {
      this.readDepth = 0;
      this.reading = undefined;
      // Nobody waits for the snapshot's end: the worker ends it before it takes the next request.
      if (!this.closed) this.port.postMessage({ op: 'readEnd', id: this.nextId++ });
    }
  }

  /** The global sequence number: it changes whenever anyone commits. One round trip, so that no cache is ever stale. */
  version(): string {
    return String(this.lastSeqno());
  }

  lastSeqno(): number {
    return this.call({ op: 'seq' }) as number;
  }

  entries(fromSeqno: number, limit: number): LedgerEntry[] {
    return this.call({ op: 'entries', from: fromSeqno, limit }) as LedgerEntry[];
  }

  /** Write sets of past transactions, cached across requests (historical-cache.ts); made on first use. */
  private historical: HistoricalCache | undefined;

  /**
   * As SqliteStore.stateAt: what transaction `seqno` wrote to `table` (CCF's historical queries), from the
   * shared txlog, so any node's commit; one round trip per transaction not yet cached. A transaction never
   * changes once committed, so the cache is never stale across nodes.
   */
  stateAt(table: string, seqno: number): Map<string, unknown> {
    const cache = (this.historical ??= new HistoricalCache({
      load: (n) => (this.call({ op: 'txAt', seqno: n }) as string | undefined) ?? undefined,
      unseal: (n, w) => unsealLedgerWrite(this.ledgerKey, n, w),
    }));
    return tableStateOf(cache.writesAt(seqno), table, this.sealer ? this.sealer.table(table) : table);
  }

  /** Cached historical write sets (tests). */
  get historicalCache(): HistoricalCache | undefined {
    return this.historical;
  }

  private ledgerBackend: LedgerBackend | undefined;

  /**
   * The ledger's tables in this schema, shared by every node on the database: each call is one round trip
   * (on the commit connection, outside any read snapshot, so it sees every commit so far).
   */
  get ledgerTables(): LedgerBackend {
    const b = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return (this.ledgerBackend ??= {
      leaves: (after, limit) => (this.call({ op: 'leaves', after, limit }) as Array<{ seqno: number; leaf: Uint8Array }>).map((r) => ({ seqno: r.seqno, leaf: b(r.leaf) })),
      leafAt: (seqno) => {
        const row = this.call({ op: 'leafAt', seqno }) as (Omit<StoredLeaf, 'leaf'> & { leaf: Uint8Array }) | undefined;
        return row ? { ...row, leaf: b(row.leaf) } : undefined;
      },
      appendLeaves: (leaves) => this.call({ op: 'addLeaves', leaves: leaves.map((l) => ({ ...l, leaf: new Uint8Array(l.leaf) })) }) as boolean,
      logged: (after, limit) => this.call({ op: 'logged', after, limit }) as LoggedTx[],
      loggedBytes: (from, to) => this.call({ op: 'loggedBytes', from, to }) as number,
      appendSignature: (s) => this.call({ op: 'addSig', seqno: s.seqno, root: new Uint8Array(s.root), signature: new Uint8Array(s.signature), cert: s.cert, signedAt: s.signedAt }) as boolean,
      lastSignature: () => {
        const row = this.call({ op: 'lastSig' }) as { seqno: number; root: Uint8Array } | null;
        return row ? { seqno: row.seqno, root: b(row.root) } : null;
      },
      lastSigned: () => this.call({ op: 'lastSigned' }) as number,
      signatureCovering: (seqno) => {
        const row = this.call({ op: 'sigCovering', seqno }) as (Omit<StoredSignature, 'root' | 'signature'> & { root: Uint8Array; signature: Uint8Array }) | null;
        return row ? { ...row, root: b(row.root), signature: b(row.signature) } : null;
      },
    });
  }

  /** A commit returned only after PostgreSQL flushed it (synchronous_commit=on): nothing is left to wait for. */
  durable(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    if (this.closed) return;
    try {
      this.call({ op: 'close' });
    } catch {
      // PostgreSQL gone or slow: the worker and its sockets end with it below.
    }
    this.shutdown();
  }

  private shutdown(): void {
    this.closed = true;
    this.port.close();
    void this.worker.terminate();
  }

  /** The row operations a transaction uses, on read(fn)'s snapshot (`read`) or on the commit connection. */
  private backend(read: number | undefined): TxBackend {
    return {
      rawGet: (table, key) => this.rawGet(table, key, read),
      rawVersion: (table, key) => {
        const [st, sk] = this.locate(table, key);
        return (this.call({ op: 'ver', t: st, k: sk, read }) as number | null) ?? undefined;
      },
      rawList: (table, prefix) => this.rawList(table, prefix, read),
      rawTableVersion: (table) => this.rawTableVersion(table, read),
      commitTx: (reads, tableReads, writes, claims) => this.commitTx(reads, tableReads, writes, claims),
    };
  }

  /** Where a row is stored: its own table and key if public (or unsealed), else their MACs. */
  private locate(table: string, key: string): [string, string] {
    return this.sealer && !isPublicTable(table) ? [this.sealer.table(table), this.sealer.key(table, key)] : [table, key];
  }

  private rawGet(table: string, key: string, read: number | undefined): { value: string; version: number } | undefined {
    const [st, sk] = this.locate(table, key);
    const row = this.call({ op: 'get', t: st, k: sk, read }) as [string | Uint8Array, number] | null;
    if (!row) return undefined;
    const [value, version] = row;
    return { value: st === table ? text(value) : this.sealer!.openAs(table, st, sk, buf(value), version, key), version };
  }

  private rawTableVersion(table: string, read: number | undefined): number {
    return this.call({ op: 'tver', t: this.sealer ? this.sealer.table(table) : table, read }) as number;
  }

  private rawList(table: string, prefix: string | undefined, read: number | undefined): Array<{ key: string; value: string; version: number }> {
    if (!this.sealer || isPublicTable(table)) {
      return (this.call({ op: 'list', t: table, prefix, read }) as Row[]).map(([key, value, version]) => ({ key, value: text(value), version }));
    }
    // Stored keys are MACs, so PostgreSQL cannot list by prefix: the real keys come from the in-memory index.
    const sealer = this.sealer;
    const keys = this.keysOf(table, read);
    const st = sealer.table(table);
    const wanted: string[] = [];
    for (let i = prefix === undefined ? 0 : lowerBound(keys, prefix); i < keys.length; i++) {
      if (prefix !== undefined && !keys[i].startsWith(prefix)) break;
      wanted.push(keys[i]);
    }
    const stored = wanted.map((key) => sealer.key(table, key));
    const rows = new Map((this.call({ op: 'getMany', t: st, keys: stored, read }) as Row[]).map((row) => [row[0], row]));
    const out: Array<{ key: string; value: string; version: number }> = [];
    for (const [i, key] of wanted.entries()) {
      const row = rows.get(stored[i]);
      if (!row) continue; // removed by another node since the index was read, as a fresh read would show
      out.push({ key, value: sealer.openAs(table, st, stored[i], buf(row[1]), row[2], key), version: row[2] });
    }
    return out;
  }

  /** The sorted real keys of a private table, rebuilt by unsealing every row when a commit changed its key set. */
  private keysOf(table: string, read: number | undefined): string[] {
    // The version is read before the rows: a commit in between only costs a rebuild next time.
    const version = this.rawTableVersion(table, read);
    const cached = this.keyIndexes.get(table);
    if (cached && cached.version === version) return cached.keys;
    const st = this.sealer!.table(table);
    const rows = this.call({ op: 'list', t: st, read }) as Row[];
    const keys = rows.map(([sk, value, v]) => this.sealer!.open(table, st, sk, buf(value), v).key);
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.keyIndexes.set(table, { version, keys });
    return keys;
  }

  private commitTx(reads: Map<string, number>, tableReads: Map<string, number>, writes: Map<string, CommittedWrite>, claims: string | null): number {
    const wireReads: Array<[string, string, number]> = [];
    for (const [rk, seen] of reads) {
      // Split at the first NUL only: keys may hold NULs themselves.
      const cut = rk.indexOf('\u0000');
      const [st, sk] = this.locate(rk.slice(0, cut), rk.slice(cut + 1));
      wireReads.push([st, sk, seen]);
    }
    const wireTables: Array<[string, number]> = [...tableReads].map(([table, seen]) => [this.sealer ? this.sealer.table(table) : table, seen]);
    const wire: WireWrite[] = [];
    const byStored = new Map<string, CommittedWrite>();
    for (const w of writes.values()) {
      const [st, sk] = this.locate(w.table, w.key);
      const json = w.value === null ? null : JSON.stringify(w.value);
      wire.push({ st, sk, v: json === null ? null : st === w.table ? json : this.sealer!.seal(st, sk, w.key, json), w });
      byStored.set(`${st}\0${sk}`, w);
    }
    const done = this.call({ op: 'commit', reads: wireReads, tableReads: wireTables, writes: wire, claims }) as {
      seqno: number;
      touched: Array<{ st: string; from: number; added: string[]; removed: string[] }>;
    };
    for (const t of done.touched) {
      const some = byStored.get(`${t.st}\0${(t.added[0] ?? t.removed[0])!}`);
      if (!some || some.table === t.st) continue; // a public or unsealed table: no index
      const index = this.keyIndexes.get(some.table);
      if (!index) continue;
      if (index.version !== t.from) {
        this.keyIndexes.delete(some.table); // another node changed it first: rebuilt on next listing
        continue;
      }
      for (const sk of t.removed) {
        const key = byStored.get(`${t.st}\0${sk}`)!.key;
        const i = lowerBound(index.keys, key);
        if (index.keys[i] === key) index.keys.splice(i, 1);
      }
      for (const sk of t.added) {
        const key = byStored.get(`${t.st}\0${sk}`)!.key;
        const i = lowerBound(index.keys, key);
        if (index.keys[i] !== key) index.keys.splice(i, 0, key);
      }
      index.version = done.seqno;
    }
    this.stats.commits++;
    return done.seqno;
  }
}

/** The first index in sorted `keys` whose key is not below `key`. */
function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
