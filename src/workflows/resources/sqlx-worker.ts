// The thread an sqlx resource's database lives in: SQLite compiled to WebAssembly (sql.js), whose only
// file system is Emscripten's in-memory one. Tenant SQL runs here and nowhere else, so:
// - it cannot reach the node's files: ATTACH, VACUUM INTO and temp files can only name in-memory files of
//   this thread, and load_extension is not compiled in (OMIT_LOAD_EXTENSION); ATTACH, DETACH, VACUUM and
//   PRAGMA are refused besides (see ALLOWED), so the limits set below stay as set;
// - it cannot block the node: the resource terminates this thread when a query runs past its time limit
//   (V8 stops WebAssembly where it is), and starts a new one from the last persisted database;
// - it cannot grow without bound: max_page_count caps the database (SQLite answers SQLITE_FULL), the
//   hard heap limit caps SQLite's memory (temp tables are kept in memory, under it).
// The database's bytes leave this thread only to be sealed and written by the resource (sqlx.ts).
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { SerdeJsonError, serdeParse, serdeStringify } from './serde-json.js';

export interface SqlxWorkerData {
  database: Uint8Array | null;
  /** workflows.resources.sqlx.max_database_bytes */
  maxBytes: number;
  heapLimitBytes: number;
}
export interface SqlxRequest {
  seq: number;
  /** EDGELESS's dispatch, decided by the resource from the message's text. */
  mode: 'select' | 'write';
  sql: string;
  /** What $1 is bound to. */
  id: string;
  /** Whether the caller waits for a reply (a call) or not (a cast). */
  needReply: boolean;
}
export interface SqlxResponse {
  seq: number;
  /** The reply's text; null when a cast succeeded (EDGELESS replies to a cast only with an error). */
  reply: string | null;
  /** Whether the query failed (the reply is sqlx's error text). */
  failed: boolean;
  /** The whole database after the query when it changed, to be persisted before the reply goes out. */
  database: Uint8Array | null;
  /** Time in SQLite, for the resource's metrics and the cost figures in docs/workflows.md. */
  execMs: number;
}

interface SqlJsStatement {
  bind(values: Record<string, unknown>): boolean;
  step(): boolean;
  get(params?: null, config?: { useBigInt?: boolean }): unknown[];
  getColumnNames(): string[];
  getNormalizedSQL(): string;
  free(): boolean;
}
interface SqlJsDatabase {
  db: number;
  exec(sql: string): Array<{ columns: string[]; values: unknown[][] }>;
  iterateStatements(sql: string): Iterable<SqlJsStatement>;
  getRowsModified(): number;
  export(): Uint8Array;
}
interface SqlJs {
  Database: new (data?: Uint8Array | null) => SqlJsDatabase;
  _sqlite3_extended_errcode(db: number): number;
}

/** The statements tenant SQL may contain, by first keyword of SQLite's own normalized text (no comments). */
const ALLOWED = new Set(['SELECT', 'VALUES', 'WITH', 'INSERT', 'REPLACE', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'REINDEX', 'ANALYZE']);
const DML = /^(INSERT|REPLACE|UPDATE|DELETE)\b|^WITH\b.*\b(INSERT|REPLACE|UPDATE|DELETE)\b/s;
const INSERTS = /^(INSERT|REPLACE)\b|^WITH\b.*\b(INSERT|REPLACE)\b/s;
const CREATE_TABLE = 'CREATE TABLE IF NOT EXISTS WorkflowState (id VARCHAR(255) PRIMARY KEY, metadata JSONB NOT NULL);';
const SAVEPOINT = 'tessera_sqlx_query';

/** A query's failure as sqlx::Error displays it (sqlx-core 0.8). */
class SqlxError extends Error {}

const data = workerData as SqlxWorkerData;
const SQL = (await (createRequire(import.meta.url)('sql.js') as () => Promise<SqlJs>)()) as SqlJs;
const db = new SQL.Database(data.database);

function guard() {
  // Set by the node, never by tenant SQL (PRAGMA is not in ALLOWED); hard_heap_limit can only be lowered.
  const pageSize = Number(db.exec('PRAGMA page_size')[0]!.values[0]![0]);
  db.exec(`PRAGMA hard_heap_limit=${data.heapLimitBytes}; PRAGMA temp_store=MEMORY; PRAGMA max_page_count=${Math.floor(data.maxBytes / pageSize)};`);
}
guard();
// EDGELESS creates the table before every message; so does the handler below (a query may have dropped it).
db.exec(CREATE_TABLE);

const databaseError = (err: unknown) => new SqlxError(`error returned from database: (code: ${SQL._sqlite3_extended_errcode(db.db)}) ${(err as Error).message}`);
const sqliteType = (v: unknown) => (v === null ? 'NULL' : typeof v === 'bigint' ? 'INTEGER' : typeof v === 'number' ? 'REAL' : typeof v === 'string' ? 'TEXT' : 'BLOB');

/** EDGELESS's `query_as::<WorkflowState>`: the columns `id` (String) and `metadata` (serde_json::Value) by name. */
function workflowState(names: string[], row: unknown[]): string {
  const column = (name: string) => {
    const i = names.indexOf(name);
    if (i < 0) throw new SqlxError(`no column found for name: ${name}`);
    const v = row[i];
    if (v === null) throw new SqlxError(`error occurred while decoding column "${name}": unexpected null; try decoding as an \`Option\``);
    return v;
  };
  const id = column('id');
  if (typeof id !== 'string') throw new SqlxError(`error occurred while decoding column "id": mismatched types; Rust type \`alloc::string::String\` (as SQL type \`TEXT\`) is not compatible with SQL type \`${sqliteType(id)}\``);
  const raw = column('metadata');
  if (typeof raw !== 'string' && !(raw instanceof Uint8Array)) {
    throw new SqlxError(`error occurred while decoding column "metadata": mismatched types; Rust type \`serde_json::value::Value\` (as SQL type \`TEXT\`) is not compatible with SQL type \`${sqliteType(raw)}\``);
  }
  try {
    const metadata = serdeParse(typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8'));
    return `{"id":${JSON.stringify(id)},"metadata":${serdeStringify(metadata)}}`;
  } catch (err) {
    if (err instanceof SerdeJsonError) throw new SqlxError(`error occurred while decoding column "metadata": ${err.message}`);
    throw err;
  }
}

/** Runs one message's SQL, statement by statement, as one unit: a failure leaves the database as it was. */
function run(req: SqlxRequest): string {
  let selected: string | null = null;
  let changes = 0;
  let inserted = false;
  db.exec(`SAVEPOINT ${SAVEPOINT}`);
  try {
    const statements = db.iterateStatements(req.sql)[Symbol.iterator]();
    for (;;) {
      let next: IteratorResult<SqlJsStatement>;
      try {
        next = statements.next();
      } catch (err) {
        throw databaseError(err);
      }
      if (next.done) break;
      const stmt = next.value;
      try {
        const text = stmt.getNormalizedSQL() ?? '';
        const keyword = /^[A-Z]+/.exec(text)?.[0] ?? '';
        if (!ALLOWED.has(keyword)) throw new SqlxError(`statement not allowed: ${keyword || text.slice(0, 20)} (sqlx on Tessera runs ${[...ALLOWED].join(', ')} on the workflow's own database only)`);
        try {
          stmt.bind({ $1: req.id });
          if (req.mode === 'select') {
            // sqlx's fetch_one: the first row any statement yields; the statements after it do not run.
            if (stmt.step()) {
              selected = workflowState(stmt.getColumnNames(), stmt.get(null, { useBigInt: true }));
              break;
            }
          } else {
            while (stmt.step());
            if (DML.test(text)) {
              const n = db.getRowsModified();
              changes += n;
              if (n > 0 && INSERTS.test(text)) inserted = true;
            }
          }
        } catch (err) {
          if (err instanceof SqlxError) throw err;
          throw databaseError(err);
        }
      } finally {
        stmt.free();
      }
    }
    if (req.mode === 'select' && selected === null) throw new SqlxError('no rows returned by a query that expected to return at least one row');
    // EDGELESS opens a new connection per message, so last_insert_rowid is 0 unless this message inserted.
    const rowid = inserted ? String(db.exec('SELECT last_insert_rowid()')[0]!.values[0]![0]) : '0';
    db.exec(`RELEASE ${SAVEPOINT}`);
    return selected ?? `rows_affected: ${changes}, last_insert_rowid: ${rowid}.`;
  } catch (err) {
    // Some errors (SQLITE_FULL, out of memory) make SQLite roll the transaction back itself; then there
    // is no savepoint left to go back to, and nothing to undo.
    try {
      db.exec(`ROLLBACK TO ${SAVEPOINT}; RELEASE ${SAVEPOINT}`);
    } catch {
      // already rolled back
    }
    throw err;
  }
}

const totalChanges = () => String(db.exec('SELECT total_changes()')[0]!.values[0]![0]);
const schemaVersion = () => String(db.exec('PRAGMA main.schema_version')[0]!.values[0]![0]);

parentPort!.on('message', (req: SqlxRequest) => {
  const started = performance.now();
  try {
    db.exec(CREATE_TABLE);
  } catch {
    // A full database: the query itself then reports what is wrong.
  }
  const before = totalChanges() + '/' + schemaVersion();
  let reply: string | null;
  let failed = false;
  try {
    const text = run(req);
    reply = req.needReply ? text : null;
  } catch (err) {
    if (!(err instanceof SqlxError)) throw err;
    reply = err.message;
    failed = true;
  }
  // Persisted only when the query changed rows or the schema (a failed one was rolled back).
  let database: Uint8Array | null = null;
  if (totalChanges() + '/' + schemaVersion() !== before) {
    database = db.export();
    guard();
  }
  // Copied, not transferred: the bytes may share memory with the WebAssembly instance.
  const res: SqlxResponse = { seq: req.seq, reply, failed, database, execMs: performance.now() - started };
  parentPort!.postMessage(res);
});
parentPort!.postMessage({ ready: true });
