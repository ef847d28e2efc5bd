import pg from 'pg';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import { AdvisoryLock, type PgConnection, advisoryKey, lockSession } from '../store/postgres-lease.js';
import type { Store } from '../store/types.js';

// Which nodes of a cluster are alive, without clocks. Each node holds a PostgreSQL advisory lock of its own
// (keyed by store.schema and its node id) on a connection of its own; PostgreSQL drops the lock the moment
// that session ends, so a node is alive exactly while its lock is held. Another node asks by trying the
// lock: if it gets it, the owner is dead, and while it keeps it the owner cannot come back (a restarting
// node takes its own lock before it restores anything). No heartbeat timestamps, so no clock skew to
// misjudge. What each node is (role, labels, resources) is recorded in the store for placement to read.

/** The store table of nodes: node id → what the node is. */
export const NODES = 'cluster.nodes';

/** What a node is, as placement sees it (EDGELESS's node capabilities, and the node's role). */
export interface ClusterNode {
  /** The node's EDGELESS UUID (workflows/annotations.ts edgelessNodeId). */
  node_id: string;
  role: 'all' | 'api' | 'worker';
  hostname: string;
  /** workflows.labels, as configured (nodeLabels adds hostname=). */
  labels: string[];
  attestation: string;
  /** The resource provider ids it offers (class types and <hostname>-<class>). */
  resource_providers: string[];
}

export interface MembershipOptions {
  connection: PgConnection;
  schema: string;
  nodeId: string;
  store: Store;
  logger: Logger;
  timeoutMs?: number;
  /** How long join() keeps trying for the node's own lock (a peer may hold it for a moment to move work). */
  joinTimeoutMs?: number;
}

const aliveKey = (schema: string, nodeId: string) => advisoryKey('tessera node alive', schema, nodeId);

export class Membership {
  readonly nodeId: string;
  private readonly own: AdvisoryLock;
  /** The connection other nodes' locks are tried on; one operation at a time (advisory locks are re-entrant per session). */
  private probe: pg.Client | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private retry: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly opts: MembershipOptions) {
    this.nodeId = opts.nodeId;
    this.own = new AdvisoryLock({ connection: opts.connection, key: aliveKey(opts.schema, opts.nodeId), what: "this node's liveness lock", timeoutMs: opts.timeoutMs });
    // Lost (its connection failed): peers now see this node as dead and may move its work; take it back when we can.
    this.own.onLost(() => {
      opts.logger.warn('lost this node\'s liveness lock: other nodes may move its workflows (it takes the lock again when PostgreSQL answers)');
      this.rejoinLater();
    });
  }

  /** Takes this node's liveness lock, waiting while a peer holds it for a moment; refuses if another process serves this node. */
  async join(): Promise<void> {
    const deadline = Date.now() + (this.opts.joinTimeoutMs ?? 15_000);
    while (!(await this.own.tryAcquire())) {
      if (Date.now() > deadline) {
        throw new TesseraError('conflict', `node ${this.nodeId} is already alive in this cluster: another process serves this data directory (or a copy of it); stop it first`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  alive(): boolean {
    return this.own.held();
  }

  /** Records (or updates) what this node is, for placement. */
  record(info: Omit<ClusterNode, 'node_id'>): void {
    this.opts.store.transact((tx) => tx.put(NODES, this.nodeId, { node_id: this.nodeId, ...info }));
  }

  /** Every node ever recorded in this cluster. */
  nodes(): ClusterNode[] {
    return this.opts.store.read((tx) => tx.list<ClusterNode>(NODES).map(([, n]) => n));
  }

  /** Which of `ids` are alive now (this node is while it holds its own lock). */
  async aliveOf(ids: Iterable<string>): Promise<Set<string>> {
    const alive = new Set<string>();
    for (const id of new Set(ids)) {
      if (id === this.nodeId) {
        if (this.own.held()) alive.add(id);
        continue;
      }
      if (!(await this.whileDead(id, () => undefined))) alive.add(id);
    }
    return alive;
  }

  /**
   * If node `id` is dead, runs `fn` while holding its liveness lock, so it cannot come back meanwhile, and
   * returns true; false (and `fn` does not run) if it is alive.
   */
  whileDead(id: string, fn: () => void | Promise<void>): Promise<boolean> {
    const run = async () => {
      const c = await this.connect();
      const key = aliveKey(this.opts.schema, id);
      let got: boolean;
      try {
        got = (await c.query('SELECT pg_try_advisory_lock($1) AS got', [key])).rows[0].got === true;
      } catch (err) {
        this.dropProbe(c);
        throw new TesseraError('unavailable', `PostgreSQL could not be asked whether node ${id} is alive: ${(err as Error).message}`, { cause: err });
      }
      if (!got) return false;
      try {
        await fn();
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => this.dropProbe(c));
      }
      return true;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    await this.queue;
    const c = this.probe;
    this.probe = null;
    await c?.end().catch(() => {});
    await this.own.release();
  }

  private rejoinLater() {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.own.tryAcquire().then(
        (got) => {
          if (got) this.opts.logger.info('took this node\'s liveness lock again');
          else this.rejoinLater();
        },
        () => this.rejoinLater(),
      );
    }, 1000);
    this.retry.unref();
  }

  private async connect(): Promise<pg.Client> {
    if (this.probe) return this.probe;
    const c = lockSession(this.opts.connection, this.opts.timeoutMs ?? 5000);
    c.on('error', () => this.dropProbe(c));
    this.probe = c;
    try {
      await c.connect();
    } catch (err) {
      this.dropProbe(c);
      throw new TesseraError('unavailable', `PostgreSQL could not be reached to check nodes' liveness: ${(err as Error).message}`, { cause: err });
    }
    return c;
  }

  private dropProbe(c: pg.Client) {
    if (this.probe !== c) return;
    this.probe = null;
    c.end().catch(() => {});
  }
}
