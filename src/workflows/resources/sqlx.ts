import { constants, mkdirSync } from 'node:fs';
import { lstat, open, readFile, rename } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { seal, unseal } from '../../crypto/aead.js';
import { TesseraError } from '../../errors/index.js';
import { confinedPath } from './sealed-file.js';
import type { SqlxRequest, SqlxResponse, SqlxWorkerData } from './sqlx-worker.js';
import type { ResourceClass, ResourceContext } from './types.js';
import { ERR, NO_REPLY, reply } from './types.js';

// sqlx (EDGELESS edgeless_node/src/resources/sqlx.rs): tenant SQL on an SQLite database. EDGELESS runs it
// with sqlx on a file the url names anywhere on the node; here the database is a file of the workflow's own
// folder, sealed at rest, and the SQL runs in SQLite compiled to WebAssembly in a thread of its own
// (sqlx-worker.ts), which has no way to the node's files and is terminated when a query runs too long.

/** The AAD of a database file: it opens only as the file it was written as. */
const databaseAad = (file: string) => Buffer.from(`sqlx ${file}`);
/** Room SQLite gets besides the database (page cache, temp tables, sorting). */
const HEAP_SLACK_BYTES = 64 * 1024 * 1024;
/** Databases open on this node, by path: two resources writing one file would undo each other's writes. */
const OPEN = new Set<string>();

const invalid = (message: string) => new TesseraError('invalid_input', message);

/**
 * The database file a url names, as sqlx's SqliteConnectOptions reads it (`sqlite://path`, `sqlite:path`,
 * `sqlite::memory:`), or null for an in-memory database. Options (`?mode=…`) are not offered.
 */
function databaseFile(url: string, what: string): string | null {
  const m = /^sqlite:(\/\/)?(.*)$/s.exec(url);
  if (!m) throw invalid(`${what}: url '${url}' must be sqlite://<file> (a database file in the workflow's own folder) or sqlite::memory:`);
  const rest = m[2]!;
  if (rest === ':memory:') return null;
  if (rest.includes('?') || rest.includes('#')) throw invalid(`${what}: url '${url}' carries options; only sqlite://<file> is offered`);
  let file: string;
  try {
    file = decodeURIComponent(rest);
  } catch {
    throw invalid(`${what}: url '${url}' is not a valid url`);
  }
  if (!file) throw invalid(`${what}: url '${url}' names no file`);
  return file;
}

/** EDGELESS's dispatch, by substring of the message. */
function modeOf(message: string): SqlxRequest['mode'] | null {
  if (message.includes('SELECT')) return 'select';
  if (message.includes('INSERT') || message.includes('UPDATE') || message.includes('DELETE')) return 'write';
  return null;
}

interface Pending {
  req: SqlxRequest;
  resolve: (r: { reply: string | null; failed: boolean }) => void;
}

/**
 * One resource's database: its thread, its queue (one query at a time, in arrival order), its file.
 * `persisted` is always what the file holds, so a thread that is terminated or fails is replaced by one
 * starting from exactly what was last acknowledged.
 */
class SqlxDatabase {
  private worker: Worker | null = null;
  private starting: Promise<Worker> | null = null;
  private readonly queue: Pending[] = [];
  private busy = false;
  private seq = 0;
  private stopped = false;

  constructor(
    private readonly ctx: ResourceContext,
    private readonly path: string | null,
    private readonly file: string | null,
    private persisted: Uint8Array | null,
    private readonly key: Buffer,
  ) {}

  private get what() {
    return `resource '${this.ctx.name}' (sqlx)`;
  }

  /** Starts the thread on the last persisted database; rejects if SQLite cannot open it. */
  thread(): Promise<Worker> {
    if (this.worker) return Promise.resolve(this.worker);
    if (this.starting) return this.starting;
    const data: SqlxWorkerData = { database: this.persisted, maxBytes: this.ctx.settings.sqlx.maxDatabaseBytes, heapLimitBytes: this.ctx.settings.sqlx.maxDatabaseBytes + HEAP_SLACK_BYTES };
    // The JS heap holds little (the database is WebAssembly memory); a bound keeps a fault from growing it.
    const worker = new Worker(new URL('./sqlx-worker.js', import.meta.url), { name: 'tessera-sqlx', workerData: data, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    worker.unref();
    this.starting = new Promise<Worker>((resolve, reject) => {
      let ready = false;
      // Before 'ready' an error or exit means SQLite could not open the database; after it, the thread
      // failed (its heap limit) and is dropped: the next query starts a new one.
      worker.on('error', (err) => (ready ? this.lost(worker, err) : fail(err)));
      worker.on('exit', (code) => (ready ? this.lost(worker, new Error(`exited with code ${code}`)) : fail(new Error(`the database thread exited with code ${code}`))));
      const fail = (err: Error) => {
        this.starting = null;
        reject(err);
      };
      worker.once('message', () => {
        ready = true;
        this.starting = null;
        this.worker = worker;
        resolve(worker);
      });
    });
    return this.starting;
  }

  private lost(worker: Worker, err: Error) {
    if (this.worker !== worker) return;
    this.worker = null;
    this.ctx.logger.warn({ workflow: this.ctx.workflowId, resource: this.ctx.name, err: err.message }, 'sqlx: the database thread ended; the next query starts it again from the persisted database');
    this.answer?.({ reply: `the database thread failed: ${err.message}`, failed: true, database: null, execMs: 0, seq: -1 });
  }

  private answer: ((res: SqlxResponse) => void) | null = null;

  query(mode: SqlxRequest['mode'], sql: string, needReply: boolean): Promise<{ reply: string | null; failed: boolean }> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve({ reply: `${this.what} is stopped`, failed: true });
      // $1 is the workflow's name, not the id of this run: rows stay the workflow's across restarts, as state does.
      this.queue.push({ req: { seq: ++this.seq, mode, sql, id: this.ctx.workflowName, needReply }, resolve });
      void this.pump();
    });
  }

  private async pump() {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) next.resolve(await this.runOne(next.req));
    } finally {
      this.busy = false;
    }
  }

  private async runOne(req: SqlxRequest): Promise<{ reply: string | null; failed: boolean }> {
    if (this.stopped) return { reply: `${this.what} is stopped`, failed: true };
    let worker: Worker;
    try {
      worker = await this.thread();
    } catch (err) {
      return { reply: `the database could not be opened: ${(err as Error).message}`, failed: true };
    }
    const limitMs = this.ctx.settings.sqlx.queryTimeLimitMs;
    const res = await new Promise<SqlxResponse | 'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), limitMs);
      this.answer = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      const onMessage = (r: SqlxResponse) => {
        if (r.seq !== req.seq) return;
        worker.off('message', onMessage);
        this.answer?.(r);
      };
      worker.on('message', onMessage);
      worker.postMessage(req);
    });
    this.answer = null;
    if (res === 'timeout') {
      // WebAssembly cannot be interrupted from inside; the thread goes, and the next query starts a new
      // one from the persisted database (the stopped query changed nothing there).
      this.worker = null;
      void worker.terminate();
      this.ctx.logger.warn({ workflow: this.ctx.workflowId, resource: this.ctx.name, limitMs }, 'sqlx: a query ran past its time limit and was stopped');
      return { reply: `query stopped: it ran longer than ${limitMs} ms (workflows.resources.sqlx.query_time_limit_ms)`, failed: true };
    }
    if (res.database) {
      try {
        await this.persist(res.database);
      } catch (err) {
        // What the thread holds is ahead of the file: drop the thread so the two agree again.
        this.worker = null;
        void worker.terminate();
        return { reply: (err as Error).message, failed: true };
      }
    }
    this.ctx.logger.debug({ workflow: this.ctx.workflowId, resource: this.ctx.name, mode: req.mode, ms: res.execMs }, 'sqlx query');
    return { reply: res.reply, failed: res.failed };
  }

  /** Seals the database and replaces the file with it in one rename: a crash leaves the old or the new one. */
  private async persist(database: Uint8Array) {
    const max = this.ctx.settings.sqlx.maxDatabaseBytes;
    if (database.byteLength > max) throw new Error(`the database would grow to ${database.byteLength} bytes, past its limit of ${max} (workflows.resources.sqlx.max_database_bytes)`);
    if (this.path) {
      const sealed = seal(this.key, Buffer.from(database.buffer, database.byteOffset, database.byteLength), databaseAad(this.file!));
      const tmp = `${this.path}.tmp`;
      const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
      try {
        await handle.writeFile(sealed);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.path);
    }
    this.persisted = database;
  }

  async stop() {
    this.stopped = true;
    const worker = this.worker ?? (await this.starting?.catch(() => null)) ?? null;
    this.worker = null;
    for (const p of this.queue.splice(0)) p.resolve({ reply: `${this.what} is stopped`, failed: true });
    await worker?.terminate();
  }
}

/** The database a file holds, opened: sealed under the workflow's key for sqlx, as the file it is. */
async function load(path: string, file: string, key: Buffer, max: number, what: string): Promise<Uint8Array | null> {
  const info = await lstat(path).catch(() => null);
  if (!info) return null;
  if (!info.isFile()) throw invalid(`${what}: '${file}' in the workflow's folder is not a database file`);
  // nonce and tag of AES-GCM around at most max bytes
  if (info.size > max + 28) throw invalid(`${what}: database '${file}' is larger than workflows.resources.sqlx.max_database_bytes (${max})`);
  const sealed = await readFile(path, { flag: constants.O_RDONLY | constants.O_NOFOLLOW });
  try {
    return new Uint8Array(unseal(key, sealed, databaseAad(file)));
  } catch {
    throw invalid(`${what}: database '${file}' does not open under this workflow's key (altered, or another workflow's file)`);
  }
}

/**
 * sqlx: each cast or call is SQL run on the workflow's database with $1 bound to the workflow, dispatched
 * as EDGELESS does by substring: "SELECT" fetches one row of (id, metadata) and replies
 * `{"id":…,"metadata":…}`; "INSERT", "UPDATE" or "DELETE" replies `rows_affected: N, last_insert_rowid: M.`;
 * a failed query replies sqlx's error text; anything else is Err.
 */
export const sqlx: ResourceClass = {
  classType: 'sqlx',
  unavailable: (s) => (s.sqlx.enabled ? null : 'workflows.resources.sqlx.enabled is false'),
  start: async (ctx) => {
    const what = `resource '${ctx.name}' (sqlx)`;
    const { url } = ctx.configurations;
    if (url === undefined) throw invalid(`${what}: configuration 'url' is missing`);
    const file = databaseFile(url, what);
    const path = file === null ? null : confinedPath(ctx.folder(), file, `${what}: url's file`);
    if (path && basename(path).endsWith('.tmp')) throw invalid(`${what}: url's file '${file}' may not end in .tmp`);
    if (path && OPEN.has(path)) throw invalid(`${what}: database '${file}' is already open in this workflow (another sqlx resource names it)`);
    // url 'sqlite://data/app.db' keeps the file in a subfolder of the workflow's folder
    if (path) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const key = ctx.sealingKey('sqlx');
    const max = ctx.settings.sqlx.maxDatabaseBytes;
    const persisted = path === null ? null : await load(path, file!, key, max, what);
    const db = new SqlxDatabase(ctx, path, file, persisted, key);
    try {
      await db.thread();
    } catch (err) {
      await db.stop();
      throw invalid(`${what}: the database cannot be opened: ${(err as Error).message}`);
    }
    if (path) OPEN.add(path);
    const log = (message: string) => ctx.logger.info({ workflow: ctx.workflowId, resource: ctx.name }, `sqlx: ${message}`);
    return {
      cast: (message) => {
        const mode = modeOf(message);
        if (!mode) return log('a cast that is not SELECT, INSERT, UPDATE or DELETE: Err');
        void db.query(mode, message, false).then((r) => r.failed && log(`a cast failed: ${r.reply}`));
      },
      call: async (message) => {
        const mode = modeOf(message);
        if (!mode) return ERR;
        const r = await db.query(mode, message, true);
        return r.reply === null ? NO_REPLY : reply(r.reply);
      },
      stop: async () => {
        if (path) OPEN.delete(path);
        await db.stop();
      },
    };
  },
};
