import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import type { ReadTx, Store, Tx } from '../store/types.js';
import type { CallRet } from './instance.js';
import { type ResourceTarget, STATE, type WorkflowRuntime } from './runtime.js';
import { checkMaxInstances, checkPlacement, type NodePlacement, nodeLabels, resourceProviderIds } from './annotations.js';
import { checkResourceClasses, offeredClasses, type ResourceSettings } from './resources/index.js';
import { fileLogAad } from './resources/file-log.js';
import { describeRoute, INGRESS_METHODS, ingressRoutes, overlaps, type Route, routeMatches } from './resources/http-ingress.js';
import { confinedPath, readSealedLines, workflowFileKey, workflowFolder } from './resources/sealed-file.js';
import { BUILTIN_FUNCTIONS, checkWorkflow, type WorkflowResource, type WorkflowSpec } from './spec.js';
import type { Membership } from '../cluster/membership.js';
import type { WorkflowForwarder } from './forward.js';
import { WorkElsewhere } from '../cluster/work-queue.js';
import { newUuid } from '../crypto/random.js';
import { chooseNode, unfit } from './placement.js';

const RUNNING = 'workflows.running';
/** Workflows that were running when their owner was removed: the record, under the owner's archive id. */
const ARCHIVED = 'workflows.archived';
/**
 * How often the running node looks for workflows whose record another process deleted (`tessera user
 * remove` archives the removed user's): the longest their instances, delayed casts and egress outlive the
 * removal. Ingress requests and starts look first, so no ingress request is served after the removal commits.
 */
export const GONE_CHECK_MS = 250;
/** In a cluster: how often each node looks for workflows placed on a node that is no longer alive, to move them. */
export const MOVE_CHECK_MS = 2000;

interface WorkflowRecord {
  id: string;
  name: string;
  owner: string;
  spec: WorkflowSpec;
  started_at: string;
  /** In a cluster: the node (EDGELESS UUID) that runs it; '' while no live node does. Absent on one node. */
  placed_on?: string;
}

/** A cluster's parts the service uses: who is alive (and where workflows go), and how to reach a workflow's node. */
export interface WorkflowCluster {
  membership: Membership;
  /** Null when no NATS is configured: requests for workflows on other nodes then fail as unavailable. */
  forwarder: WorkflowForwarder | null;
  /**
   * The cluster's work queue (src/cluster/work-queue.ts): asynchronous ingress events travel through it, so
   * one accepted is handled at least once, by whichever node runs the workflow then. Null without NATS.
   */
  events: EventQueue | null;
  /** The cluster's queue of delayed casts, due at their time (capabilities/work.ts). Null without NATS. */
  delays: EventQueue | null;
}

interface EventQueue {
  publish(kind: string, id: string, body: Buffer): Promise<void>;
  handle(kind: string, handler: (id: string, body: Buffer) => Promise<void>): void;
}

/** An asynchronous ingress event, as the work queue carries it (sealed by the queue). */
interface QueuedEvent {
  workflow: string;
  target: string;
  payload: string;
  /** When it was accepted (ms since the epoch): an event no node could deliver for EVENT_MAX_AGE_MS is dropped. */
  sent?: number;
}

/** An event (or a due delayed cast) that no node could hand to its workflow for this long is dropped, and said. */
const EVENT_MAX_AGE_MS = 10 * 60_000;

/** A delayed cast in a cluster, as the work queue carries it: due at `due` (ms since the epoch, the sender's clock). */
export interface QueuedDelayedCast {
  workflow: string;
  target: string;
  /** Base64: a cast's payload is bytes. */
  payload: string;
  due: number;
}

/** How long a node gives a queued event to be handled before it hands it back to the queue. */
const EVENT_HANDLED_WITHIN_MS = 30_000;

export interface IngressRequest {
  method: string;
  host: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** The default and the most a function's `event-timeout-ms` annotation may ask for (0: no cap, so `none` is allowed). */
export interface EventLimits {
  defaultMs: number;
  maxMs: number;
}

/** A function's event time limit: its `event-timeout-ms` annotation (ms, or `none` for EDGELESS's no limit), within the operator's maximum. */
export function eventTimeout(fn: string, annotation: string | undefined, limits: EventLimits): number {
  if (annotation === undefined) return limits.defaultMs;
  const ms = annotation === 'none' ? 0 : /^[0-9]{1,10}$/.test(annotation) ? Number(annotation) : NaN;
  if (!Number.isFinite(ms) || (ms !== 0 && ms < 10)) throw new TesseraError('invalid_input', `function '${fn}': annotation event-timeout-ms must be a number of milliseconds (at least 10) or 'none', not '${annotation}'`);
  if (limits.maxMs > 0 && (ms === 0 || ms > limits.maxMs)) {
    throw new TesseraError('invalid_input', `function '${fn}': event-timeout-ms ${annotation} is over this node's maximum of ${limits.maxMs} ms (workflows.max_event_timeout_ms)`);
  }
  return ms;
}

/** A record must survive the Store's serialisation (a spec nested too deeply does not): checked before anything is stored or started. */
function storable(record: WorkflowRecord) {
  try {
    JSON.stringify(record);
  } catch (err) {
    throw new TesseraError('invalid_input', `invalid workflow: it cannot be stored (${(err as Error).message})`);
  }
}

/** Headers that carry the caller's credentials for this node: never handed to a workflow. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization']);

/**
 * When a user is removed (`tessera user remove`, in its transaction): its running workflows stop being
 * running (their records move to ARCHIVED under `archiveId`; the node stops their instances and routes, see
 * WorkflowService.stopGone), and all the state it synced, of running and stopped workflows, moves from its
 * state keys to `archiveId`'s. A user added again under the name runs, sees and is counted for none of
 * them, and its workflows of the same names start without the old state. Returns how many workflows stopped.
 */
export function archiveWorkflowsOf(tx: Tx, name: string, archiveId: string): number {
  let moved = 0;
  const archivedAt = new Date().toISOString();
  for (const [id, w] of tx.list<WorkflowRecord>(RUNNING)) {
    if (w.owner !== name) continue;
    tx.delete(RUNNING, id);
    tx.put(ARCHIVED, id, { ...w, owner: archiveId, archived_at: archivedAt });
    moved++;
  }
  // State keys start with the encoded owner and ':' (stateKey), which the encoding keeps out of the owner part.
  const from = WorkflowService.stateKey(name, '', '').slice(0, -1);
  const to = WorkflowService.stateKey(archiveId, '', '').slice(0, -1);
  for (const [key, state] of tx.list<string>(STATE, from)) {
    tx.delete(STATE, key);
    tx.put(STATE, to + key.slice(from.length), state);
  }
  return moved;
}

const utf8 = (b: ArrayBuffer | null) => (b ? Buffer.from(b).toString('utf8') : '');

/**
 * Workflows: started from EDGELESS JSON, kept in the Store so they come back after a restart with each
 * instance's last synced state (state keys are stable and per owner: owner + workflow name + function
 * name, or the function's `state-key` annotation), stopped, listed and inspected; their resources (resources/)
 * start with them, and http-ingress requests are routed here.
 */
export class WorkflowService {
  /** Settles when the workflows running before the last restart are back. */
  private restoring: Promise<void> | null = null;
  /** Workflows stopped while they were being restored, which the restore must not bring back. */
  private readonly stopped = new Set<string>();
  /** Names of workflows whose instances are loading (a start awaits isolate threads). */
  private readonly starting = new Set<string>();
  /** Routes of running workflows, which /ingress/* serves. */
  private readonly ingress = new Map<string, Route[]>();
  /** Routes claimed by each workflow that is running or starting, with its owner: no two owners' routes overlap. */
  private readonly routes = new Map<string, { owner: string; routes: Route[] }>();
  /** The store version stopGone last looked at. */
  private seenVersion = '';

  constructor(
    private readonly opts: {
      store: Store;
      runtime: WorkflowRuntime;
      logger: Logger;
      /** What the operator lets resources do (tessera.toml [workflows] egress_hosts and [workflows.resources]). */
      resources: ResourceSettings;
      /** Where resources keep files (DATA/workflow-files), and the key their files are sealed under. */
      files: { root: string; key: Buffer };
      eventLimits: EventLimits;
      /** Workflows one user may run at once (workflows.max_workflows_per_user); no bound when left out. */
      maxPerOwner?: number;
      /** What placement annotations are checked against (annotations.ts). */
      placement: NodePlacement;
      /** Set on a node of a cluster: workflows are placed on live nodes and move when theirs dies (placement.ts). */
      cluster?: WorkflowCluster;
    },
  ) {
    const watcher = setInterval(() => {
      try {
        this.stopGone();
      } catch (err) {
        this.opts.logger.warn({ err: (err as Error).message }, 'could not look for workflows stopped elsewhere');
      }
    }, GONE_CHECK_MS);
    watcher.unref();
    opts.runtime.onClose(() => clearInterval(watcher));
    const { cluster } = opts;
    if (cluster) {
      let moving = false;
      const mover = setInterval(() => {
        if (moving) return;
        moving = true;
        this.moveOrphans()
          .catch((err) => this.opts.logger.warn({ err: (err as Error).message }, 'could not look for workflows of dead nodes'))
          .finally(() => (moving = false));
      }, MOVE_CHECK_MS);
      mover.unref();
      opts.runtime.onClose(() => clearInterval(mover));
      cluster.forwarder?.serve({ ingress: (id, req) => this.ingressHere(id, req), inspect: (id) => this.opts.runtime.inspect(id) });
      cluster.events?.handle('wfevent', (_id, body) => {
        const event = JSON.parse(body.toString()) as QueuedEvent;
        return this.queuedEvent(event.workflow, event.target, event.payload, event.sent ?? Date.now());
      });
      cluster.delays?.handle('wfdelay', async (_id, body) => {
        const cast = JSON.parse(body.toString()) as QueuedDelayedCast;
        const wait = cast.due - Date.now();
        // Not due yet: offered again when it is (JetStream keeps it meanwhile, whatever happens to this node).
        if (wait > 0) throw new WorkElsewhere(Math.min(wait, 60_000));
        await this.queuedEvent(cast.workflow, cast.target, Buffer.from(cast.payload, 'base64'), cast.due);
      });
    }
  }

  /**
   * A queued asynchronous event, pulled by this node: handled here if the workflow runs here (acknowledged
   * once its instance has handled it), handed back for another node if not, dropped if the workflow is gone
   * (EDGELESS drops events for a stopped workflow too).
   */
  private async queuedEvent(workflow: string, target: string, payload: string | Buffer, since: number): Promise<void> {
    const record = this.opts.store.read((tx) => tx.get<WorkflowRecord>(RUNNING, workflow));
    if (!record || this.stopped.has(workflow)) return;
    if (Date.now() - since > EVENT_MAX_AGE_MS) {
      // Its workflow fits no live node, or cannot start where it is placed: not carried round forever.
      this.opts.logger.warn({ workflow, target }, `a queued event no node could deliver for ${EVENT_MAX_AGE_MS / 60_000} minutes was dropped`);
      return;
    }
    if (record.placed_on !== this.me) throw new WorkElsewhere();
    if (!(await this.loadedHere(workflow, false))) throw new WorkElsewhere();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), EVENT_HANDLED_WITHIN_MS)));
    try {
      const handled = await Promise.race([this.opts.runtime.castAndWait(workflow, target, payload), late]);
      if (handled === 'late') throw new TesseraError('timeout', `workflow ${workflow}'s ${target} did not handle a queued event within ${EVENT_HANDLED_WITHIN_MS} ms; it goes back to the queue`);
      // Dropped, not handled: the workflow was stopped (then so is the event), or it is moving, its instance
      // restarting or its queue full (then it goes back to the queue, for later or for the next host).
      if (handled === false && !this.stopped.has(workflow)) throw new WorkElsewhere(1000);
    } finally {
      clearTimeout(timer);
    }
  }

  /** This node's id in its cluster, or null on one node. */
  private get me(): string | null {
    return this.opts.cluster?.membership.nodeId ?? null;
  }

  /**
   * Stops the workflows this node runs whose record is no longer stored: `tessera user remove`, in another
   * process, archives the removed user's running workflows, which this node sees only as a new store
   * version. Their instances (with pending delayed casts) and ingress routes go. One version check when
   * nothing has committed since the last look, else one indexed lookup per running workflow.
   */
  private stopGone(): void {
    const version = this.opts.store.version();
    if (version === this.seenVersion) return;
    if (this.opts.cluster) {
      this.reconcile();
      this.seenVersion = version;
      return;
    }
    const ids = [...this.routes.keys()];
    const gone = ids.length ? this.opts.store.read((tx) => ids.filter((id) => tx.versionOf(RUNNING, id) === undefined)) : [];
    this.seenVersion = version;
    for (const id of gone) {
      const owner = this.routes.get(id)?.owner;
      this.stopped.add(id);
      this.ingress.delete(id);
      this.routes.delete(id);
      this.opts.logger.info({ workflow: id, owner }, 'workflow stopped: its record is gone from the store (its owner was removed)');
      this.opts.runtime.stopWorkflow(id).catch((err) => this.opts.logger.error({ workflow: id, err: (err as Error).message }, 'could not stop a workflow whose record is gone'));
    }
  }

  /** Workflows whose launch here failed: not tried again at every store version (a restart tries them again). */
  private readonly failedHere = new Set<string>();

  /**
   * In a cluster, at each new store version: this node stops what it runs whose record is gone (stopped
   * through another node, or its owner removed) or placed elsewhere (moved while this node was thought
   * dead), and starts what was placed on it (through another node, or moved here).
   */
  private reconcile(): void {
    const records = new Map(this.list().map((r) => [r.id, r]));
    for (const id of [...this.routes.keys()]) {
      const record = records.get(id);
      if (record && record.placed_on === this.me) continue;
      const owner = this.routes.get(id)?.owner;
      this.ingress.delete(id);
      this.routes.delete(id);
      this.opts.logger.info({ workflow: id, owner, placed_on: record?.placed_on }, record ? 'workflow stopped here: it was moved to another node' : 'workflow stopped: its record is gone from the store');
      this.opts.runtime.stopWorkflow(id).catch((err) => this.opts.logger.error({ workflow: id, err: (err as Error).message }, 'could not stop a workflow'));
    }
    // While the workflows of the last run come back (restoreAll), those are its to start.
    if (this.restoring) return;
    for (const record of records.values()) {
      if (record.placed_on !== this.me || this.routes.has(record.id) || this.stopped.has(record.id) || this.failedHere.has(record.id)) continue;
      this.launchPlaced(record).catch(() => undefined);
    }
  }

  /** Starts a workflow placed on this node by another one (or moved here), from its last synced state. */
  private async launchPlaced(record: WorkflowRecord) {
    try {
      this.claimRoutes(record.id, record.owner, ingressRoutes(record.spec, record.id));
    } catch (err) {
      this.failedHere.add(record.id);
      this.opts.logger.error({ workflow: record.id, err: (err as Error).message }, 'a workflow placed on this node cannot run here');
      return;
    }
    try {
      this.migrateState(record);
      await this.launch(record, this.routes.get(record.id)!.routes);
      this.opts.logger.info({ workflow: record.id, owner: record.owner }, 'workflow started here (placed on this node), from its last synced state');
    } catch (err) {
      this.routes.delete(record.id);
      this.ingress.delete(record.id);
      this.failedHere.add(record.id);
      this.opts.logger.error({ workflow: record.id, err: (err as Error).message }, 'could not start a workflow placed on this node');
    }
  }

  /** How many workflows each node runs, for spreading new ones. */
  private load(records = this.list()): Map<string, number> {
    const load = new Map<string, number>();
    for (const r of records) if (r.placed_on) load.set(r.placed_on, (load.get(r.placed_on) ?? 0) + 1);
    return load;
  }

  /**
   * In a cluster, every MOVE_CHECK_MS: workflows placed on a node that is not alive (or on none) move here
   * if this node fits their annotations. The dead node's liveness lock is held while its workflows move,
   * so it cannot come back meanwhile, and each move is a compare-and-set of the record's placement: of
   * nodes racing for one workflow, exactly one wins. The winner then starts it (reconcile) from its last sync.
   */
  async moveOrphans(): Promise<number> {
    const { cluster } = this.opts;
    if (!cluster || !cluster.membership.alive()) return 0;
    const mine = cluster.membership.nodes().find((n) => n.node_id === this.me);
    if (!mine || mine.role === 'api') return 0;
    const byNode = new Map<string, WorkflowRecord[]>();
    for (const r of this.list()) {
      if (r.placed_on === this.me) continue;
      const on = r.placed_on ?? '';
      byNode.set(on, [...(byNode.get(on) ?? []), r]);
    }
    let moved = 0;
    const adopt = (records: WorkflowRecord[]) => {
      for (const r of records) {
        if (unfit(r.spec, mine) !== null) continue;
        try {
          const took = this.opts.store.transact((tx) => {
            const now = tx.get<WorkflowRecord>(RUNNING, r.id);
            if (!now || (now.placed_on ?? '') !== (r.placed_on ?? '')) return false;
            tx.put(RUNNING, r.id, { ...now, placed_on: this.me! });
            return true;
          });
          if (!took) continue;
          moved++;
          this.opts.logger.warn({ workflow: r.id, from: r.placed_on || null }, 'workflow moved here: its node is not alive');
        } catch (err) {
          // conflict: another node moved it first, or it was stopped; either way it is not ours.
          this.opts.logger.debug({ workflow: r.id, err: (err as Error).message }, 'did not move a workflow');
        }
      }
    };
    for (const [node, records] of byNode) {
      if (node === '') adopt(records);
      else await cluster.membership.whileDead(node, () => adopt(records));
    }
    if (moved) this.stopGone();
    return moved;
  }

  async start(owner: string, input: { name?: string; spec: unknown }): Promise<WorkflowRecord> {
    // Validate everything first: a bad spec is a 4xx and nothing is stored or started.
    const spec = checkWorkflow(input.spec);
    // In a cluster the node that runs it is chosen below, among those that fit; on one node, it is this one.
    if (!this.opts.cluster) {
      checkResourceClasses(spec.resources, this.opts.resources);
      this.checkPlacement(spec);
    }
    const name = input.name ?? randomUUID();
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new TesseraError('invalid_input', `workflow name '${name}' must be 1-64 letters, digits, '_', '.' or '-'`);
    for (const f of spec.functions) eventTimeout(f.name, f.annotations?.['event-timeout-ms'], this.opts.eventLimits);
    const record: WorkflowRecord = { id: randomUUID(), name, owner, spec, started_at: new Date().toISOString() };
    storable(record);
    const routes = ingressRoutes(spec, record.id);

    // A removed user's workflows must not hold names or routes a new user of the name would then share.
    this.stopGone();
    // Names are per owner: alice's 'payroll' and bob's 'payroll' are different workflows with different state.
    const nameKey = `${owner}\0${name}`;
    const named = (all: WorkflowRecord[]) => all.some((w) => w.owner === owner && w.name === name);
    if (named(this.list()) || this.starting.has(nameKey)) throw new TesseraError('conflict', `a workflow of yours named '${name}' is already running; stop it first`);
    if (this.opts.cluster) {
      const all = this.list();
      this.claimClusterRoutes(record.id, owner, routes, all);
      record.placed_on = await chooseNode(spec, this.opts.cluster.membership, this.load(all));
      if (record.placed_on !== this.me) return this.placeElsewhere(record, routes, named);
    }
    this.claimRoutes(record.id, owner, routes);
    this.starting.add(nameKey);
    try {
      // Store second, launch third; any failure undoes both, so no instance runs without a record.
      this.storeRecord(record, routes, named);
      try {
        await this.launch(record, routes);
      } catch (err) {
        this.ingress.delete(record.id);
        await this.opts.runtime.stopWorkflow(record.id);
        try {
          this.opts.store.transact((tx) => tx.delete(RUNNING, record.id));
        } catch (again) {
          this.opts.logger.error({ workflow: record.id, err: (again as Error).message }, 'could not delete the record of a workflow that failed to start');
        }
        throw err;
      }
    } catch (err) {
      this.routes.delete(record.id);
      throw err;
    } finally {
      this.starting.delete(nameKey);
    }
    return record;
  }

  /**
   * Stores a starting workflow's record, with the checks that need the stored list: the owner's quota and
   * instance bound and, in a cluster, its name and routes again. Another node may have started one of the
   * name, or another user's workflow with the same route, meanwhile: reading the list makes that a conflict,
   * so two owners never share a route.
   */
  private storeRecord(record: WorkflowRecord, routes: Route[], named: (all: WorkflowRecord[]) => boolean): void {
    const { owner } = record;
    try {
      this.opts.store.transact((tx) => {
        const all = tx.list<WorkflowRecord>(RUNNING).map(([, w]) => w);
        const mine = all.filter((w) => w.owner === owner);
        const quota = this.opts.maxPerOwner;
        if (quota !== undefined && mine.length >= quota) throw new TesseraError('too_large', `'${owner}' runs ${mine.length} workflows, the quota (workflows.max_workflows_per_user); stop one first`);
        checkMaxInstances(record.spec, mine.map((w) => w.spec));
        if (this.opts.cluster) {
          if (named(mine)) throw new TesseraError('conflict', `a workflow of yours named '${record.name}' is already running; stop it first`);
          this.claimClusterRoutes(record.id, owner, routes, all);
        }
        tx.put(RUNNING, record.id, record);
      });
    } catch (err) {
      if (err instanceof TesseraError) throw err;
      throw new TesseraError('invalid_input', `the workflow cannot be stored: ${(err as Error).message}`);
    }
  }

  /**
   * A workflow placed on another node: only its record is stored here (with the same checks as a start
   * here); that node sees it at its next look at the store (reconcile) and starts it.
   */
  private placeElsewhere(record: WorkflowRecord, routes: Route[], named: (all: WorkflowRecord[]) => boolean): WorkflowRecord {
    this.storeRecord(record, routes, named);
    this.opts.logger.info({ workflow: record.id, owner: record.owner, placed_on: record.placed_on }, 'workflow placed on another node');
    return record;
  }

  /** In a cluster, routes are claimed against every node's workflows (stored records), as claimRoutes does on one node. */
  private claimClusterRoutes(id: string, owner: string, routes: Route[], all: WorkflowRecord[]) {
    for (const other of all) {
      if (other.id === id || other.owner === owner) continue;
      for (const mine of routes) {
        const theirs = ingressRoutes(other.spec, other.id).find((r) => overlaps(r, mine));
        if (theirs) throw new TesseraError('conflict', `http-ingress route ${describeRoute(mine)} overlaps ${describeRoute(theirs)}, which another user's workflow holds in this cluster`);
      }
    }
  }

  /** Placement annotations: this node must satisfy every one, or the workflow is refused (annotations.ts). */
  private checkPlacement(spec: WorkflowSpec) {
    const { placement, resources } = this.opts;
    checkPlacement(spec, placement, resourceProviderIds(offeredClasses(resources).keys(), placement.hostname));
  }

  /**
   * Claims a workflow's http-ingress routes: a route (host and methods; no host or no method means any)
   * that overlaps one held by another owner's workflow is refused, so no tenant can take another's requests.
   */
  private claimRoutes(id: string, owner: string, routes: Route[]) {
    for (const [other, held] of this.routes) {
      if (other === id || held.owner === owner) continue;
      for (const mine of routes) {
        const theirs = held.routes.find((r) => overlaps(r, mine));
        if (theirs) throw new TesseraError('conflict', `http-ingress route ${describeRoute(mine)} overlaps ${describeRoute(theirs)}, which another user's workflow holds on this node`);
      }
    }
    this.routes.set(id, { owner, routes });
  }

  /** Where an instance's state lives: the owner's principal, the workflow's name, the function (or its `state-key`). */
  static stateKey(owner: string, workflow: string, fn: string): string {
    return `${encodeURIComponent(owner)}:${workflow}/${fn}`;
  }

  /** Spawns functions, then resources, then installs mappings, then inits; any failure undoes it all. */
  private async launch(record: WorkflowRecord, routes: Route[]) {
    const { runtime } = this.opts;
    const ids = new Map<string, string>();
    try {
      for (const f of record.spec.functions) {
        const cls = f.class_specification;
        const code = cls.function_type === 'BUILTIN' ? Buffer.from(BUILTIN_FUNCTIONS[cls.id]) : Buffer.from(cls.binary!, 'base64');
        const stateKey = f.annotations?.['state-policy'] === 'transient' ? null : WorkflowService.stateKey(record.owner, record.name, f.annotations?.['state-key'] ?? f.name);
        try {
          const limits = { eventMs: eventTimeout(f.name, f.annotations?.['event-timeout-ms'], this.opts.eventLimits) };
          // In a cluster, also only while placed here: a node thought dead, whose workflow moved, writes no state.
          const syncWhile = this.opts.cluster
            ? (tx: ReadTx) => tx.get<WorkflowRecord>(RUNNING, record.id)?.placed_on === this.me
            : (tx: ReadTx) => tx.versionOf(RUNNING, record.id) !== undefined;
          ids.set(f.name, await runtime.spawn({ workflowId: record.id, name: f.name, kind: cls.function_type === 'RUST_WASM' ? 'wasm' : 'js', code, initPayload: f.annotations?.['init-payload'] ?? null, stateKey, limits, syncWhile }));
        } catch (err) {
          if (err instanceof TesseraError) throw err;
          throw new TesseraError('invalid_input', `function '${f.name}' cannot be loaded: ${(err as Error).message}`);
        }
      }
      for (const r of record.spec.resources) runtime.addResource(record.id, r.name, await this.startResource(record, r));
      for (const f of record.spec.functions) runtime.patch(ids.get(f.name)!, f.output_mapping ?? {});
      for (const f of record.spec.functions) await runtime.init(ids.get(f.name)!);
      if (this.stopped.has(record.id)) throw new TesseraError('conflict', `workflow ${record.id} was stopped while it started`);
      this.ingress.set(record.id, routes);
    } catch (err) {
      await runtime.stopWorkflow(record.id);
      throw err;
    }
  }

  /** Starts one resource of a workflow; a bad configuration throws, naming the resource. */
  private async startResource(record: WorkflowRecord, r: WorkflowResource) {
    const cls = offeredClasses(this.opts.resources).get(r.class_type);
    if (!cls) throw new TesseraError('invalid_input', `resource '${r.name}' has class '${r.class_type}', which this node no longer offers`);
    const component = randomUUID();
    const { files, runtime, logger } = this.opts;
    return cls.start({
      workflowId: record.id,
      owner: record.owner,
      workflowName: record.name,
      name: r.name,
      classType: r.class_type,
      configurations: r.configurations ?? {},
      settings: this.opts.resources,
      logger,
      folder: () => workflowFolder(files.root, record.owner, record.name),
      sealingKey: (purpose) => workflowFileKey(files.key, record.owner, record.name, purpose),
      emit: (channel, payload, meta) => {
        const target = r.output_mapping?.[channel];
        if (!target) {
          logger.debug({ workflow: record.id, resource: r.name, channel }, 'resource output not mapped: event dropped');
          return;
        }
        try {
          runtime.castTo(record.id, target, payload, component, meta);
        } catch (err) {
          logger.warn({ workflow: record.id, resource: r.name, err: (err as Error).message }, 'resource output could not be delivered');
        }
      },
    });
  }

  /**
   * A file a file-log resource of the caller's workflow `workflowName` wrote, opened: its lines as written.
   * Only the owner's own workflow folder is read; the workflow may be running or stopped.
   */
  async readFileLog(owner: string, workflowName: string, filename: string): Promise<string> {
    const { root, key } = this.opts.files;
    const path = confinedPath(workflowFolder(root, owner, workflowName), filename, 'file name');
    try {
      const lines = await readSealedLines(path, workflowFileKey(key, owner, workflowName, 'file-log'), fileLogAad(filename));
      return lines.map((l) => `${l}\n`).join('');
    } catch (err) {
      if (err instanceof TesseraError && err.code === 'not_found') throw new TesseraError('not_found', `no file-log file '${filename}' in your workflow '${workflowName}'`);
      throw err;
    }
  }

  /**
   * State synced before state keys named their owner (`<workflow>/<function>`) moves to the owner of the
   * running workflow it belonged to. State of workflows stopped before the upgrade has no known owner:
   * it stays under its old key, where no workflow reads it.
   */
  private migrateState(record: WorkflowRecord) {
    for (const f of record.spec.functions) {
      if (f.annotations?.['state-policy'] === 'transient') continue;
      const fn = f.annotations?.['state-key'] ?? f.name;
      const legacy = `${record.name}/${fn}`;
      const key = WorkflowService.stateKey(record.owner, record.name, fn);
      if (this.opts.store.read((tx) => tx.get<string>(STATE, legacy)) === undefined) continue;
      this.opts.store.transact((tx) => {
        const old = tx.get<string>(STATE, legacy);
        if (old === undefined || old === null) return;
        if (tx.get<string>(STATE, key) === undefined) tx.put(STATE, key, old);
        tx.delete(STATE, legacy);
      });
    }
  }

  /** At start: every workflow that was running comes back, each instance with its last synced state. */
  async restoreAll(): Promise<number> {
    const restoring = (async () => {
      let n = 0;
      // In a cluster, only those placed on this node: the others run elsewhere, or moved away while it was down.
      const records = this.list()
        .filter((r) => !this.opts.cluster || r.placed_on === this.me)
        .sort((a, b) => a.started_at.localeCompare(b.started_at));
      for (const record of records) {
        if (this.stopped.has(record.id)) continue;
        try {
          storable(record);
          // The node's labels, attestation or resources may have changed since it started.
          this.checkPlacement(record.spec);
          this.claimRoutes(record.id, record.owner, ingressRoutes(record.spec, record.id));
        } catch (err) {
          // A record stored before these checks existed (an overlapping route, an annotation now checked), or one
          // whose placement this node no longer satisfies, gets here: it is not brought back, nor left listed.
          if (this.opts.cluster) {
            // Another node may fit it: it is left unplaced, for the first that does to take (moveOrphans).
            this.opts.logger.error({ workflow: record.id, owner: record.owner, err: (err as Error).message }, 'a workflow placed on this node no longer fits it: left for another node');
            this.opts.store.transact((tx) => {
              const now = tx.get<WorkflowRecord>(RUNNING, record.id);
              if (now?.placed_on === this.me) tx.put(RUNNING, record.id, { ...now, placed_on: '' });
            });
            continue;
          }
          this.opts.logger.error({ workflow: record.id, owner: record.owner, err: (err as Error).message }, 'a stored workflow is refused and removed');
          this.opts.store.transact((tx) => tx.delete(RUNNING, record.id));
          continue;
        }
      }
      for (const record of records) {
        const claimed = this.routes.get(record.id);
        if (!claimed || this.stopped.has(record.id)) continue;
        try {
          this.migrateState(record);
          await this.launch(record, claimed.routes);
          n++;
        } catch (err) {
          this.opts.logger.error({ workflow: record.id, err: (err as Error).message }, 'could not restore a workflow');
        }
      }
      return n;
    })();
    this.restoring = restoring.then(() => undefined);
    try {
      return await restoring;
    } finally {
      this.restoring = null;
      // Workflows placed on this node while it restored were left for now (reconcile): start them.
      if (this.opts.cluster) {
        try {
          this.reconcile();
        } catch (err) {
          this.opts.logger.warn({ err: (err as Error).message }, 'could not look for workflows placed on this node (it looks again at the next store change)');
        }
      }
    }
  }

  async stop(id: string, user: string): Promise<WorkflowRecord> {
    const record = this.getOwn(id, user);
    this.stopped.add(id);
    this.ingress.delete(id);
    this.routes.delete(id);
    await this.opts.runtime.stopWorkflow(id);
    this.opts.store.transact((tx) => tx.delete(RUNNING, id));
    return record;
  }

  list(): WorkflowRecord[] {
    return this.opts.store.read((tx) => tx.list<WorkflowRecord>(RUNNING).map(([, r]) => r));
  }

  /** The workflow if `user` started it; another tenant's looks exactly like one that does not exist. */
  private getOwn(id: string, user: string): WorkflowRecord {
    const record = this.opts.store.read((tx) => tx.get<WorkflowRecord>(RUNNING, id));
    if (!record || record.owner !== user) throw new TesseraError('not_found', `no running workflow ${id} of yours`);
    return record;
  }

  get(id: string): WorkflowRecord {
    const record = this.opts.store.read((tx) => tx.get<WorkflowRecord>(RUNNING, id));
    if (!record) throw new TesseraError('not_found', `no running workflow ${id}`);
    return record;
  }

  /** A workflow's instances and resources, for its owner: another tenant's workflow is not theirs to see. */
  async inspect(id: string, user: string) {
    const record = this.getOwn(id, user);
    const { cluster } = this.opts;
    if (cluster) {
      // Its instances are on the node that runs it; the answer says which one that is.
      const host = record.placed_on ?? '';
      let functions: unknown = [];
      if (host === this.me) functions = this.opts.runtime.inspect(id);
      else if (host && cluster.forwarder) functions = await cluster.forwarder.inspect(host, id);
      return { id: record.id, name: record.name, owner: record.owner, started_at: record.started_at, node_id: host || null, functions, resources: record.spec.resources.map((r) => ({ name: r.name, class_type: r.class_type, output_mapping: r.output_mapping ?? {} })) };
    }
    return { id: record.id, name: record.name, owner: record.owner, started_at: record.started_at, functions: this.opts.runtime.inspect(id), resources: record.spec.resources.map((r) => ({ name: r.name, class_type: r.class_type, output_mapping: r.output_mapping ?? {} })) };
  }

  /** What placement annotations see of this node (EDGELESS's node capabilities): GET /v1/workflow-node. */
  nodeInfo() {
    const { placement, resources } = this.opts;
    const classes = [...offeredClasses(resources).keys()];
    return {
      node_id: placement.nodeId,
      labels: nodeLabels(placement),
      resource_providers: [...resourceProviderIds(classes, placement.hostname)],
      attestation_provider: placement.attestation,
      tee: placement.attestation === 'sev-snp' || placement.attestation === 'tdx',
      tpm: false,
      runtimes: ['RUST_WASM', 'JS', 'BUILTIN'],
    };
  }

  /** http-ingress: routes a request to a matching workflow, as EDGELESS's request/response JSON. */
  async handleIngress(req: IngressRequest): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const notFound = { status: 404, headers: { 'content-type': 'text/plain' }, body: Buffer.from('Not Found') };
    // A workflow archived with its removed owner answers nothing from the moment the removal committed.
    this.stopGone();
    if (this.opts.cluster) return this.clusterIngress(req);
    const method = INGRESS_METHODS[req.method];
    const candidates = [...this.ingress.entries()].flatMap(([workflowId, routes]) => routes.filter((r) => routeMatches(r, req)).map((r) => ({ workflowId, ...r })));
    if (method && candidates.length === 0 && this.restoring) {
      // Right after a restart the workflows come back while the node already answers: a request no
      // restored workflow matches yet waits for the rest to come back before it is refused.
      await this.restoring;
      return this.handleIngress(req);
    }
    if (!method || candidates.length === 0) return notFound;
    return this.deliver(candidates[Math.floor(Math.random() * candidates.length)], req);
  }

  /**
   * http-ingress in a cluster: the routes of every node's workflows are in the store; a request for one
   * that another node runs is forwarded to that node (forward.ts) and answered from there.
   */
  private async clusterIngress(req: IngressRequest): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const notFound = { status: 404, headers: { 'content-type': 'text/plain' }, body: Buffer.from('Not Found') };
    if (!INGRESS_METHODS[req.method]) return notFound;
    const candidates = this.list().flatMap((w) => ingressRoutes(w.spec, w.id).filter((r) => routeMatches(r, req)).map((route) => ({ w, route })));
    if (candidates.length === 0) return notFound;
    const { w: chosen, route } = candidates[Math.floor(Math.random() * candidates.length)];
    const events = this.opts.cluster!.events;
    if (route.async && events) {
      // Accepted once the queue holds it (durable in JetStream); the node running the workflow handles it,
      // whichever node that is by then.
      const payload = route.encodeBase64 ? req.body.toString('base64') : req.body.toString('utf8');
      await events.publish('wfevent', newUuid(), Buffer.from(JSON.stringify({ workflow: chosen.id, target: route.target, payload, sent: Date.now() } satisfies QueuedEvent)));
      return { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('OK') };
    }
    if (chosen.placed_on === this.me) return this.ingressHere(chosen.id, req);
    const forwarder = this.opts.cluster!.forwarder;
    if (!chosen.placed_on) throw new TesseraError('unavailable', `workflow ${chosen.id} is moving to another node: retry in a few seconds`, { retryAfterSeconds: 2 });
    if (!forwarder) throw new TesseraError('unavailable', `workflow ${chosen.id} runs on node ${chosen.placed_on}, and this node has no NATS (nats.url) to reach it`);
    return forwarder.ingress(chosen.placed_on, chosen.id, req);
  }

  /**
   * Whether a workflow runs here, waiting up to 5 s for one placed here a moment ago (moved, or started
   * through another node) whose instances may still be loading; with `whileClaimed`, only while its routes
   * are claimed here (it is starting here).
   */
  private async loadedHere(workflowId: string, whileClaimed: boolean): Promise<boolean> {
    for (let i = 0; i < 100 && !this.ingress.has(workflowId) && (!whileClaimed || this.routes.has(workflowId)); i++) await new Promise((r) => setTimeout(r, 50));
    return this.ingress.has(workflowId);
  }

  /** An ingress request for a workflow this node runs (from this node's listener or forwarded by another). */
  private async ingressHere(workflowId: string, req: IngressRequest): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    if (!(await this.loadedHere(workflowId, true)) && this.restoring) await this.restoring;
    const routes = (this.ingress.get(workflowId) ?? []).filter((r) => routeMatches(r, req));
    if (!routes.length) return { status: 404, headers: { 'content-type': 'text/plain' }, body: Buffer.from('Not Found') };
    return this.deliver({ workflowId, ...routes[Math.floor(Math.random() * routes.length)] }, req);
  }

  /** Hands a request to the route's target instance: a cast (answered OK at once) or a call (answered with its reply). */
  private async deliver(chosen: Route & { workflowId: string }, req: IngressRequest): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const notFound = { status: 404, headers: { 'content-type': 'text/plain' }, body: Buffer.from('Not Found') };
    const method = INGRESS_METHODS[req.method];
    if (chosen.async) {
      const body = chosen.encodeBase64 ? req.body.toString('base64') : req.body.toString('utf8');
      this.opts.runtime.castTo(chosen.workflowId, chosen.target, body);
      return { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('OK') };
    }
    // Routes of different owners never overlap (claimRoutes), so every candidate is the same owner's.
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !CREDENTIAL_HEADERS.has(k.toLowerCase())));
    const request = { method, protocol: 'HTTPS', host: req.host, path: req.path, body: req.body.length ? [...req.body] : null, headers };
    const ret = await this.opts.runtime.callTo(chosen.workflowId, chosen.target, JSON.stringify(request));
    if (ret.type !== 1) return notFound;
    try {
      const response = JSON.parse(utf8(ret.data)) as { status: number; headers?: Record<string, string>; body?: number[] | null };
      return { status: response.status, headers: response.headers ?? {}, body: Buffer.from(response.body ?? []) };
    } catch {
      return { status: 502, headers: { 'content-type': 'text/plain' }, body: Buffer.from('the workflow replied with something that is not an EdgelessHTTPResponse') };
    }
  }
}
