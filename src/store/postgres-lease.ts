import { createHash } from 'node:crypto';
import pg from 'pg';
import { TesseraError } from '../errors/index.js';

// Session-level advisory locks, held on a connection of their own. Two uses: the signing lease (of all
// nodes on one PostgreSQL database, only the one holding it signs the ledger) and each node's liveness lock
// (src/cluster/membership.ts: a node is alive while its own lock is held). Either is a session-level advisory lock (pg_try_advisory_lock) on a connection of its own: PostgreSQL
// releases the lock the moment that session ends, so a node that crashes or is cut off frees it without
// anyone's help. The other side of that coin: the holder must stop signing the moment its connection is in
// doubt, as another node may take the lock as soon as PostgreSQL has ended the session. So onLost fires
// at once on the connection's error or end, and a heartbeat catches a connection that went silent.
// (A cut-off holder's session lingers on the server until its TCP keepalive notices; meanwhile nobody
// else can take the lock, which is safe: no second signer.)

/**
 * The advisory lock's key, one per service: advisory locks are per database, and services may share a
 * database in schemas of their own (store.schema), so the key is derived from the schema's name (the first
 * 8 bytes of SHA-256('tessera signing lease', schema), as PostgreSQL's signed bigint).
 */
export function signingLeaseKey(schema = 'tessera'): string {
  return createHash('sha256').update('tessera signing lease\0').update(schema).digest().readBigInt64BE(0).toString();
}

/** A key of its own for each purpose and service: the first 8 bytes of SHA-256 over the parts, as a signed bigint. */
export function advisoryKey(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest().readBigInt64BE(0).toString();
}

export type PgConnection = string | Pick<pg.ClientConfig, 'host' | 'port' | 'user' | 'password' | 'database'>;

/**
 * A session of its own for locks and probes: every query bounded by `timeoutMs`, and TCP keep-alives so that
 * a server that went silent is noticed.
 */
export function lockSession(connection: PgConnection, timeoutMs: number, extra: pg.ClientConfig = {}): pg.Client {
  const base = typeof connection === 'string' ? { connectionString: connection } : connection;
  return new pg.Client({ ...base, query_timeout: timeoutMs, connectionTimeoutMillis: timeoutMs, keepAlive: true, ...extra });
}

export interface AdvisoryLockOptions {
  connection: PgConnection;
  /** The lock's key (a bigint as text). */
  key: string;
  /** What the lock is, for error messages ("the signing lease"). */
  what: string;
  /** How often the holder checks its connection; default 2 s. */
  heartbeatMs?: number;
  /** How long a query (the acquisition, a heartbeat) may take; default 5 s. */
  timeoutMs?: number;
}

export interface SigningLeaseOptions extends Omit<AdvisoryLockOptions, 'key' | 'what'> {
  /** The store's schema: nodes of one service contend for one lease, other services' leases are others. */
  schema?: string;
}

/** A session-level advisory lock on a connection of its own, lost (onLost) the moment that connection is in doubt. */
export class AdvisoryLock {
  private client: pg.Client | null = null;
  private holding = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly options: AdvisoryLockOptions) {}

  /** Takes the lease if nobody holds it; true if this lease holds it now. Never waits for a holder. */
  async tryAcquire(): Promise<boolean> {
    if (this.holding) return true;
    const c = await this.connect();
    let got: boolean;
    try {
      got = (await c.query('SELECT pg_try_advisory_lock($1) AS got', [this.options.key])).rows[0].got === true;
    } catch (err) {
      this.drop(c);
      throw new TesseraError('unavailable', `PostgreSQL could not be asked for ${this.options.what}: ${(err as Error).message}`, { cause: err });
    }
    if (!got || this.client !== c) return false;
    this.holding = true;
    const every = this.options.heartbeatMs ?? 2000;
    this.heartbeat = setInterval(() => {
      c.query('SELECT 1').catch(() => this.drop(c));
    }, every);
    this.heartbeat.unref();
    return true;
  }

  held(): boolean {
    return this.holding;
  }

  /** `cb` runs, once, the moment a held lease is lost (its connection failed or ended). */
  onLost(cb: () => void): void {
    this.listeners.push(cb);
  }

  /** Gives the lease up (if held) and closes its connection. */
  async release(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.stopHeartbeat();
    this.holding = false; // released on purpose: not "lost", so no onLost
    if (!c) return;
    await c.query('SELECT pg_advisory_unlock($1)', [this.options.key]).catch(() => {});
    await c.end().catch(() => {});
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const c = lockSession(this.options.connection, this.options.timeoutMs ?? 5000, { keepAliveInitialDelayMillis: 1000 });
    c.on('error', () => this.drop(c));
    c.on('end', () => this.drop(c));
    this.client = c;
    try {
      await c.connect();
    } catch (err) {
      this.drop(c);
      throw new TesseraError('unavailable', `PostgreSQL could not be reached for ${this.options.what}: ${(err as Error).message}`, { cause: err });
    }
    return c;
  }

  /** The connection is gone or in doubt: the lease with it, at once. */
  private drop(c: pg.Client): void {
    if (this.client !== c) return;
    this.client = null;
    this.stopHeartbeat();
    c.end().catch(() => {});
    if (!this.holding) return;
    this.holding = false;
    for (const cb of this.listeners) {
      try {
        cb();
      } catch {
        // one listener's failure must not keep the others from hearing it
      }
    }
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

/** The ledger's signing lease: one advisory lock per service, keyed by store.schema. */
export class SigningLease extends AdvisoryLock {
  constructor(options: SigningLeaseOptions) {
    const { schema, ...rest } = options;
    super({ ...rest, key: signingLeaseKey(schema), what: 'the signing lease' });
  }
}
