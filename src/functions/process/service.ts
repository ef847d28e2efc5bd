import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { asTesseraError, TesseraError } from '../../errors/index.js';
import type { Confiner } from '../../sandbox/process/confine.js';
import { type FnCall, FnCallError, type FnResponse } from '../../sandbox/process/hot-process.js';
import { ProcessPool } from '../../sandbox/process/pool.js';
import type { ReadTx, Store, Tx } from '../../store/types.js';
import { RowCache } from '../../store/row-cache.js';
import type { FunctionDefinition } from '../registry.js';
import { archiveIdOf } from '../../identity/principals.js';
import type { CodeCache } from './code-cache.js';
import { type FuncFile, egressOf, formatOf, readFuncFile } from './funcfile.js';
import { fnError, requestHeaders, responseHeaders, triggerRequestHeaders, triggerResponse } from './fn-http.js';
import { type PackageLimits, unpackPackage } from '../../packaging/package.js';
import type { PackageStore } from './package-store.js';
import { commandOf, runtimeFamily } from './runtimes.js';

export type { FnResponse } from '../../sandbox/process/hot-process.js';
export { fnError as fnErrorResponse } from './fn-http.js';
export { fromRaw as headersFromRaw } from '../../sandbox/process/fn-protocol.js';

const FNS = 'fn.functions';
const APPS = 'fn.apps';
const PACKAGES = 'fn.packages';
/** The owner of functions deployed by governance: '@' starts no principal's name. */
export const CONSORTIUM = '@consortium';
/** How owners that are archives of removed principals begin (`removed:<certId>`, archiveIdOf). */
const ARCHIVE_PREFIX = archiveIdOf({ certId: '' });
const isArchived = (owner: string) => owner.startsWith(ARCHIVE_PREFIX);
/**
 * How often the running node looks for functions that are gone from the store while their processes run
 * (removed by `tessera user remove` in another process): the longest such processes outlive the removal.
 */
export const GONE_CHECK_MS = 250;

/** One version of a process function: its package digest, and who owns it. Immutable once written. */
export interface FnRecord {
  id: string;
  owner: string;
  app: string;
  name: string;
  /** SHA-256 of the package archive: the code that runs. */
  package: string;
  version: number;
  func: FuncFile;
  created_at: string;
}

export interface PackageRecord {
  digest: string;
  name: string;
  size: number;
  func: FuncFile;
  uploaded_by: string[];
  uploaded_at: string;
}

export interface FnSettings {
  maxProcessesPerFunction: number;
  startTimeoutMs: number;
  maxResponseBytes: number;
  openFiles: number;
  allowDirectDeploy: boolean;
  allowEgress: boolean;
  packageLimits: PackageLimits;
  /** Packages one uploader may hold that no function uses, and how long such a package is kept. */
  maxUnusedPackages: number;
  unusedPackageTtlMs: number;
  /** Process functions one user may own through direct deploys (fn.max_functions_per_user); no bound when left out. The consortium is not bound. */
  maxFunctionsPerUser?: number;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Randomness for call ids, drawn 4 KiB at a time: one call to the CSPRNG per 256 calls, not per call. */
let pool = Buffer.alloc(0);
let poolAt = 0;
function random16(): Buffer {
  if (poolAt + 16 > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  poolAt += 16;
  return pool.subarray(poolAt - 16, poolAt);
}

/** Fn-style 26-character base32 ids (call ids): 48-bit milliseconds, then randomness. */
/** A detached call as the work queue carries it (sealed by the queue). */
interface QueuedCall {
  fn: string;
  headers: Record<string, string[]>;
  body: string;
}

export function fnId(): string {
  let time = Date.now();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[time % 32] + head;
    time = Math.floor(time / 32);
  }
  let tail = '';
  for (const b of random16()) tail += CROCKFORD[b % 32];
  return head + tail;
}

/** A function's id: the SHA-256 of who owns it, its app and its package, so one id is always one code. */
export const functionId = (owner: string, app: string, digest: string) => createHash('sha256').update(`tessera process function\0${owner}\0${app}\0${digest}`).digest('hex');

/**
 * When a user is removed (`tessera user remove`, in its transaction), the process functions and apps it
 * deployed directly move to `archiveId`, and so does its name among the uploaders of packages (whose count
 * fn.max_unused_packages bounds). A function's id is the SHA-256 of its owner, app and package, so an
 * archived function gets a new id: the old one names nothing, and the running node, seeing it gone, stops
 * its processes (FnService.retireGone). Nobody may call an archived function, under either id, nor deploy
 * into its app; a user added again under the name owns, lists under its name and is counted for none of them.
 * Returns how many functions moved.
 */
export function archiveProcessFunctionsOf(tx: Tx, name: string, archiveId: string): number {
  let moved = 0;
  for (const [id, f] of tx.list<FnRecord>(FNS)) {
    if (f.owner !== name) continue;
    const archived = functionId(archiveId, f.app, f.package);
    tx.delete(FNS, id);
    tx.put(FNS, archived, { ...f, id: archived, owner: archiveId });
    moved++;
  }
  for (const [app, a] of tx.list<{ owner: string }>(APPS)) {
    if (a.owner === name) tx.put(APPS, app, { ...a, owner: archiveId });
  }
  for (const [digest, p] of tx.list<PackageRecord>(PACKAGES)) {
    if (p.uploaded_by.includes(name)) tx.put(PACKAGES, digest, { ...p, uploaded_by: p.uploaded_by.map((u) => (u === name ? archiveId : u)) });
  }
  return moved;
}

const APP_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Functions in any language as hot processes over Fn's protocol: packages (content-addressed code),
 * functions (a package deployed under an owner and an app), one pool per function, and the two ways in:
 * /invoke (FDK headers as they are) and HTTP triggers (Fn-Http-* mapping).
 */
export class FnService {
  private readonly pools = new Map<string, ProcessPool>();
  private readonly records: RowCache<FnRecord>;

  constructor(
    private readonly opts: {
      store: Store;
      logger: Logger;
      settings: FnSettings;
      packages: PackageStore;
      cache: CodeCache;
      confiner: Confiner;
      /** A cluster's work queue: detached calls go through it to whichever node runs them. None on one node. */
      queue?: { publish(kind: string, id: string, body: Buffer): Promise<void> };
    },
  ) {
    this.records = new RowCache(opts.store);
  }

  /** A function's record, as every call looks it up (cached until anything commits). */
  private record(id: string): FnRecord | undefined {
    return this.records.get(id, () => this.opts.store.read((tx) => tx.get<FnRecord>(FNS, id)));
  }

  private sweeper: NodeJS.Timeout | undefined;
  private watcher: NodeJS.Timeout | undefined;
  /** The store version retireGone last looked at. */
  private seenVersion = '';

  /** Start-up: the cache is checked against the approved digests; the confinement in use is logged. */
  async open(): Promise<void> {
    await this.opts.cache.open();
    await this.sweepUnused();
    this.sweeper = setInterval(() => void this.sweepUnused().catch((err) => this.opts.logger.warn({ err: (err as Error).message }, 'could not sweep unused packages')), Math.min(3600_000, Math.max(1000, this.opts.settings.unusedPackageTtlMs)));
    this.sweeper.unref();
    this.watcher = setInterval(() => {
      try {
        this.retireGone();
      } catch (err) {
        this.opts.logger.warn({ err: (err as Error).message }, 'could not look for removed process functions');
      }
    }, GONE_CHECK_MS);
    this.watcher.unref();
    const keep = new Set(this.list().map((f) => f.package));
    const checked = await this.opts.cache.verifyAll(keep);
    const problem = this.problem();
    if (this.opts.confiner.mode === 'none') this.opts.logger.warn('process functions run UNCONFINED (fn.confinement = "none"): as the node\'s user, seeing its files and network');
    else if (problem) this.opts.logger.warn({ reason: problem }, 'process functions are refused on this node until bubblewrap works, or fn.confinement = "none" is set');
    else {
      this.opts.logger.info({ confinement: 'bubblewrap', limits: this.opts.confiner.limitsBy, seccomp: this.opts.confiner.seccompFile !== null, cache: checked }, 'process functions confined');
      if (this.opts.confiner.seccompFile === null) this.opts.logger.warn({ arch: process.arch }, 'no seccomp filter for this architecture: function processes may make every system call an unprivileged user can');
    }
  }

  /** Why process functions cannot run here, if they cannot. */
  problem(): string | null {
    return this.opts.confiner.mode === 'bubblewrap' ? this.opts.confiner.unavailable : null;
  }

  /** What `tessera fn list` shows about how functions run here. */
  confinement(): { mode: string; limits: string; warning: string | null } {
    const problem = this.problem();
    const warning = this.opts.confiner.mode === 'none' ? 'process functions run unconfined on this node (fn.confinement = "none")' : problem ? `process functions are refused: ${problem}` : null;
    return { mode: this.opts.confiner.mode, limits: this.opts.confiner.limitsBy, warning };
  }

  private requireRunnable() {
    const problem = this.problem();
    if (problem) throw new TesseraError('unavailable', `this node refuses process functions: ${problem}. Install bubblewrap, or have the operator set fn.confinement = "none" to run them unconfined`);
  }

  // Packages

  /** Packages no function uses, with how old they are. */
  private unused(tx: ReadTx): PackageRecord[] {
    const used = new Set(tx.list<FnRecord>(FNS).map(([, f]) => f.package));
    return tx.list<PackageRecord>(PACKAGES).map(([, p]) => p).filter((p) => !used.has(p.digest));
  }

  /** Removes packages that no function has used for fn.unused_package_ttl_s after their upload. */
  async sweepUnused(now = Date.now()): Promise<number> {
    const ttl = this.opts.settings.unusedPackageTtlMs;
    const expired = this.opts.store.read((tx) => this.unused(tx)).filter((p) => now - Date.parse(p.uploaded_at) > ttl);
    for (const p of expired) {
      const gone = this.opts.store.transact((tx) => {
        if (!this.unused(tx).some((u) => u.digest === p.digest)) return false; // deployed meanwhile
        tx.delete(PACKAGES, p.digest);
        return true;
      }).result;
      if (gone) await this.opts.packages.remove(p.digest);
    }
    if (expired.length) this.opts.logger.info({ packages: expired.length }, 'removed uploaded packages that no function used');
    return expired.length;
  }

  /**
   * Checks and stores an uploaded archive; returns its digest and what its func.yaml says. Users upload
   * only where they may deploy; members upload to propose. Each holds at most fn.max_unused_packages
   * that no function uses, so uploads alone cannot fill the node's disk.
   */
  async upload(bytes: Buffer, uploader: string, role: 'user' | 'member'): Promise<PackageRecord> {
    if (role === 'user') this.requireDirectDeploy();
    const held = this.opts.store.read((tx) => this.unused(tx).filter((p) => p.uploaded_by.includes(uploader)));
    if (held.length >= this.opts.settings.maxUnusedPackages) {
      const oldest = Math.min(...held.map((p) => Date.parse(p.uploaded_at)));
      const retry = Math.max(1, Math.ceil((oldest + this.opts.settings.unusedPackageTtlMs - Date.now()) / 1000));
      throw new TesseraError('rate_limited', `you hold ${held.length} uploaded packages that no function uses (fn.max_unused_packages); deploy or propose one, or wait until the oldest expires in ${retry} s`, { retryAfterSeconds: retry });
    }
    const limits = this.opts.settings.packageLimits;
    if (bytes.length > limits.maxBytes) throw new TesseraError('too_large', `the package is ${bytes.length} bytes; this node takes at most ${limits.maxBytes} (fn.max_package_bytes)`);
    const scratch = await mkdtemp(join(this.opts.cache.root, '.check-'));
    let func: FuncFile;
    let digest: string;
    try {
      digest = await unpackPackage(bytes, join(scratch, 'p'), limits);
      func = readFuncFile(join(scratch, 'p'));
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    this.checkFunc(func);
    await this.opts.packages.put(bytes);
    const { result } = this.opts.store.transact((tx) => {
      const existing = tx.get<PackageRecord>(PACKAGES, digest);
      const record: PackageRecord = existing
        ? { ...existing, uploaded_by: existing.uploaded_by.includes(uploader) ? existing.uploaded_by : [...existing.uploaded_by, uploader] }
        : { digest, name: func.name, size: bytes.length, func, uploaded_by: [uploader], uploaded_at: new Date().toISOString() };
      tx.put(PACKAGES, digest, record);
      return record;
    });
    await this.opts.store.durable();
    return result;
  }

  private checkFunc(func: FuncFile) {
    runtimeFamily(func.runtime);
    commandOf(func);
    if (egressOf(func) && !this.opts.settings.allowEgress) {
      throw new TesseraError('permission_denied', `function ${func.name} asks for network access (annotation tessera.io/egress); this node's operator has not allowed it (fn.allow_egress)`);
    }
  }

  private packageIn(tx: ReadTx, digest: string): PackageRecord {
    if (!/^[0-9a-f]{64}$/.test(digest)) throw new TesseraError('invalid_input', `'${digest}' is not a package digest (the SHA-256 that tessera fn deploy prints)`);
    const p = tx.get<PackageRecord>(PACKAGES, digest);
    if (!p) throw new TesseraError('not_found', `no uploaded package has digest ${digest}: upload it first (tessera fn deploy DIR --propose uploads, then proposes)`);
    return p;
  }

  // Functions

  /** A user's direct deploy: the package becomes (a new version of) the caller's own function. */
  async deploy(owner: string, app: string, digest: string): Promise<FnRecord> {
    this.requireDirectDeploy();
    this.requireRunnable();
    const { result } = this.opts.store.transact((tx) => this.put(tx, owner, app, digest));
    await this.opts.store.durable();
    return result;
  }

  requireDirectDeploy() {
    if (!this.opts.settings.allowDirectDeploy) {
      throw new TesseraError('permission_denied', 'this node registers process functions only through governance: a member runs  tessera fn deploy DIR --app APP --propose -i <member folder>  (a set_node_function proposal, kind "process"), or the operator sets fn.allow_direct_deploy = true');
    }
  }

  /** For a governance proposal's validation: why it cannot apply, or null. */
  check(app: string, digest: string, name: string): string | null {
    try {
      this.requireRunnable();
      return this.opts.store.read((tx) => {
        const p = this.packageIn(tx, digest);
        if (p.name !== name) return `the package's func.yaml names the function '${p.name}', not '${name}'`;
        this.checkFunc(p.func);
        this.appOwner(tx, app, CONSORTIUM);
        return null;
      });
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** A governance proposal's apply, inside its transaction: the consortium owns what it deploys. */
  deployIn(tx: Tx, app: string, digest: string): FnRecord {
    return this.put(tx, CONSORTIUM, app, digest);
  }

  /** For a governance removal's validation. */
  checkRemoval(app: string, name: string): string | null {
    const f = this.list().find((g) => g.app === app && g.name === name && g.owner === CONSORTIUM);
    return f ? null : `the consortium has no process function '${name}' in app '${app}'`;
  }

  /** A governance removal's apply. */
  removeIn(tx: Tx, app: string, name: string): FnRecord {
    const f = tx.list<FnRecord>(FNS).map(([, g]) => g).find((g) => g.app === app && g.name === name && g.owner === CONSORTIUM);
    if (!f) throw new TesseraError('not_found', `the consortium has no process function '${name}' in app '${app}'`);
    this.drop(tx, f);
    return f;
  }

  private drop(tx: Tx, f: FnRecord) {
    tx.delete(FNS, f.id);
    if (!tx.list<FnRecord>(FNS).some(([key, g]) => key !== f.id && g.app === f.app)) tx.delete(APPS, f.app);
    this.retire(f.id);
  }

  /** Refuses an app another owner has; claims an app nobody has. */
  private appOwner(tx: ReadTx, app: string, owner: string) {
    if (!APP_NAME.test(app)) throw new TesseraError('invalid_input', `app name '${app}' must be 1-64 letters, digits, '_', '.' or '-'`);
    const a = tx.get<{ owner: string }>(APPS, app);
    if (a && a.owner !== owner) {
      const whose = a.owner === CONSORTIUM ? 'the consortium (deployed by governance)' : isArchived(a.owner) ? 'the archive of a removed user' : 'another user';
      throw new TesseraError('permission_denied', `app '${app}' belongs to ${whose}; deploy into an app of your own`);
    }
  }

  private put(tx: Tx, owner: string, app: string, digest: string): FnRecord {
    const p = this.packageIn(tx, digest);
    this.checkFunc(p.func);
    this.appOwner(tx, app, owner);
    if (!tx.get(APPS, app)) tx.put(APPS, app, { owner, created_at: new Date().toISOString() });
    const id = functionId(owner, app, digest);
    const inApp = tx.list<FnRecord>(FNS).map(([, f]) => f).filter((f) => f.app === app);
    const previous = inApp.find((f) => f.name === p.name);
    // A trigger source names one function in its app (Fn: models.ErrTriggerSourceExists, 409).
    for (const t of p.func.triggers ?? []) {
      const holder = inApp.find((f) => f.name !== p.name && (f.func.triggers ?? []).some((u) => u.type === t.type && u.source === t.source));
      if (holder) throw new TesseraError('conflict', `Trigger with the same type and source exists on this app: ${t.source} belongs to function '${holder.name}' in app '${app}'`);
    }
    if (previous?.id === id) return previous;
    const quota = this.opts.settings.maxFunctionsPerUser;
    if (owner !== CONSORTIUM && !previous && quota !== undefined) {
      const owned = tx.list<FnRecord>(FNS).filter(([, f]) => f.owner === owner).length;
      if (owned >= quota) throw new TesseraError('too_large', `'${owner}' owns ${owned} process functions, the quota (fn.max_functions_per_user); remove one first`);
    }
    const record: FnRecord = { id, owner, app, name: p.name, package: digest, version: (previous?.version ?? 0) + 1, func: p.func, created_at: new Date().toISOString() };
    if (previous) {
      tx.delete(FNS, previous.id);
      this.retire(previous.id);
    }
    tx.put(FNS, id, record);
    return record;
  }

  /** The owner removes a function they deployed (the consortium's go only by governance). */
  async remove(owner: string, id: string): Promise<FnRecord> {
    const { result } = this.opts.store.transact((tx) => {
      const f = tx.get<FnRecord>(FNS, id);
      if (!f || f.owner !== owner) throw new TesseraError('not_found', `you have no function ${id}`);
      this.drop(tx, f);
      return f;
    });
    await this.opts.store.durable();
    return result;
  }

  private retire(id: string) {
    const pool = this.pools.get(id);
    this.pools.delete(id);
    void pool?.close();
  }

  /**
   * Stops the processes of functions that are no longer stored under their id, or belong to a removed
   * user's archive: `tessera user remove` archives a user's functions from another process, which this node
   * sees only as a new store version. Runs every GONE_CHECK_MS; one version check when nothing committed.
   */
  retireGone(): void {
    if (this.pools.size === 0) return;
    const version = this.opts.store.version();
    if (version === this.seenVersion) return;
    const gone = [...this.pools.keys()].filter((id) => {
      const f = this.record(id);
      return !f || isArchived(f.owner);
    });
    this.seenVersion = version;
    for (const id of gone) {
      this.opts.logger.info({ fn_id: id }, 'process function gone from the store (its owner was removed, or it was removed): its processes are stopped');
      this.retire(id);
    }
  }

  list(): FnRecord[] {
    return this.opts.store.read((tx) => tx.list<FnRecord>(FNS).map(([, f]) => f));
  }

  /**
   * Who may call a function: its owner, and every user for the consortium's (deployed by governance). A
   * user's direct deploy is that user's own code over that user's requests; nobody else runs it.
   */
  static mayCall(owner: string, user: string): boolean {
    return owner === CONSORTIUM || owner === user;
  }

  /** The functions `user` may call, as GET /v1/fns lists them: their own and the consortium's. */
  listFor(user: string): FnRecord[] {
    return this.list().filter((f) => FnService.mayCall(f.owner, user));
  }

  get(id: string): FnRecord {
    const f = this.opts.store.read((tx) => tx.get<FnRecord>(FNS, id));
    if (!f) throw new TesseraError('function_not_found', `no function ${id}`);
    return f;
  }

  private pool(f: FnRecord): ProcessPool {
    let pool = this.pools.get(f.id);
    if (!pool) {
      const memoryMb = f.func.memory ?? 128;
      const node = runtimeFamily(f.func.runtime) === 'node';
      pool = new ProcessPool({
        format: formatOf(f.func),
        spec: {
          launch: async ({ socketDir, env }) => {
            this.requireRunnable();
            // Verified before every cold start: a copy changed on disk is replaced from the sealed package.
            const codeDir = await this.opts.cache.dir(f.package);
            return this.opts.confiner.launch({
              codeDir,
              command: commandOf(f.func),
              // The function's config first; FN_* last, so config cannot override them (Fn does the same).
              env: {
                ...(node ? { NODE_OPTIONS: `--max-old-space-size=${memoryMb}` } : {}),
                ...(f.func.config ?? {}),
                FN_MEMORY: String(memoryMb),
                FN_TYPE: 'sync',
                FN_FN_ID: f.id,
                FN_APP_ID: f.app,
                ...env,
              },
              memoryMb,
              network: egressOf(f.func) && this.opts.settings.allowEgress,
              openFiles: this.opts.settings.openFiles,
              socketDir,
            });
          },
          socketDir: () => this.opts.confiner.socketDir(),
          startTimeoutMs: this.opts.settings.startTimeoutMs,
          maxResponseBytes: this.opts.settings.maxResponseBytes,
        },
        maxProcesses: this.opts.settings.maxProcessesPerFunction,
        idleTimeoutMs: (f.func.idle_timeout ?? 30) * 1000,
        logger: this.opts.logger.child({ fn: f.name, fn_id: f.id }),
      });
      this.pools.set(f.id, pool);
    }
    return pool;
  }

  /** A call to `f`, due within the function's timeout from now. */
  private callOf(f: FnRecord, callId: string, body: Buffer, headers: Record<string, string[]>): FnCall {
    return { callId, body, headers, deadline: new Date(Date.now() + (f.func.timeout ?? 30) * 1000) };
  }

  /** A detached call run here: its outcome goes to the log, since nobody waits for it. */
  private runDetached(f: FnRecord, call: FnCall): Promise<unknown> {
    return this.pool(f)
      .call(call)
      .catch((err) => this.opts.logger.warn({ fn: f.name, call_id: call.callId, err: (err as Error).message }, 'detached call failed'));
  }

  private async run(f: FnRecord, headers: Record<string, string[]>, body: Buffer, detached: boolean): Promise<FnResponse> {
    const callId = fnId();
    const accepted: FnResponse = { status: 202, headers: { 'fn-call-id': [callId] }, body: Buffer.alloc(0) };
    if (detached && this.opts.queue) {
      // Answered once the queue holds the call (it is then run at least once, by whichever node pulls it).
      const queued: QueuedCall = { fn: f.id, headers, body: body.toString('base64') };
      try {
        await this.opts.queue.publish('fn', callId, Buffer.from(JSON.stringify(queued)));
      } catch (err) {
        return fnError(503, asTesseraError(err).message);
      }
      return accepted;
    }
    const call = this.callOf(f, callId, body, headers);
    if (detached) {
      void this.runDetached(f, call);
      return accepted;
    }
    try {
      const r = await this.pool(f).call(call);
      return { ...r, headers: { ...r.headers, 'fn-call-id': [callId] } };
    } catch (err) {
      if (err instanceof FnCallError) return { ...err.response, headers: { ...err.response.headers, 'fn-call-id': [callId] } };
      if (err instanceof TesseraError && err.code === 'unavailable') return fnError(503, err.message);
      throw err;
    }
  }

  /**
   * A detached call from the work queue (a cluster), run here; it resolves (and the message is acknowledged)
   * however the call ends: a function that fails is the caller's to see in its logs, not to run again.
   */
  async runQueued(callId: string, message: Buffer): Promise<void> {
    const queued = JSON.parse(message.toString()) as QueuedCall;
    const f = this.record(queued.fn);
    if (!f || isArchived(f.owner)) {
      this.opts.logger.warn({ fn_id: queued.fn, call_id: callId }, 'a queued detached call names a function that is gone; dropped');
      return;
    }
    await this.runDetached(f, this.callOf(f, callId, Buffer.from(queued.body, 'base64'), queued.headers));
  }

  /**
   * POST /invoke/{fn_id} by `user`: the client's headers pass through; the FDK's 200 comes back as it is.
   * Another user's function is refused (403) before anything reaches it.
   */
  invoke(id: string, user: string, headers: Record<string, string[]>, body: Buffer): Promise<FnResponse> {
    const f = this.record(id);
    // An archived function (its owner was removed) runs for nobody; it looks like one that does not exist.
    if (!f || isArchived(f.owner)) return Promise.resolve(fnError(404, 'Fn not found'));
    if (!FnService.mayCall(f.owner, user)) return Promise.resolve(fnError(403, `function ${id} belongs to another user: only its owner may invoke it (functions deployed by governance are for every user)`));
    const detached = (headers['fn-invoke-type']?.[0] ?? '').toLowerCase() === 'detached';
    return this.run(f, requestHeaders(headers), body, detached).then((r) => ({ ...r, headers: responseHeaders(r.headers) }));
  }

  /**
   * ANY /t/{app}/{source} by `user`: headers renamed Fn-Http-H-*, status and headers mapped back from the
   * FDK's. An app belongs to one owner (appOwner), so another user's app is refused (403) as a whole; an
   * archived one (its owner was removed) is not found.
   */
  async trigger(app: string, user: string, source: string, method: string, url: string, headers: Record<string, string[]>, body: Buffer): Promise<FnResponse> {
    const fns = this.list().filter((fn) => fn.app === app && !isArchived(fn.owner));
    const owner = this.opts.store.read((tx) => tx.get<{ owner: string }>(APPS, app))?.owner ?? fns[0]?.owner;
    if (owner === undefined || isArchived(owner)) return fnError(404, 'App not found');
    if (!FnService.mayCall(owner, user)) return fnError(403, `app '${app}' belongs to another user: only its owner may call its triggers`);
    const f = fns.find((fn) => (fn.func.triggers ?? []).some((t) => t.source === source));
    if (!f) return fnError(404, 'Trigger not found');
    const r = await this.run(f, triggerRequestHeaders(method, url, headers), body, false);
    return triggerResponse(r);
  }

  /**
   * A process function as a task's function (`fn:<id>`): the payload is the call body, the 200 body the
   * task's result. Lets tasks run code in any language, under the same registration rules.
   */
  taskDefinition(id: string): FunctionDefinition | undefined {
    const f = this.opts.store.read((tx) => tx.get<FnRecord>(FNS, id));
    if (!f || isArchived(f.owner)) return undefined;
    return {
      name: `fn:${f.id}`,
      kind: 'process',
      type: 'Single',
      description: `process function ${f.app}/${f.name}`,
      interface: { payload: 'text', arguments: [], inputs: [], outputs: [] },
      // The task's creator is who calls the function: the same rule as /invoke, at creation and at run.
      refuseCreator: (creator) => (FnService.mayCall(f.owner, creator) ? null : `process function ${f.id} belongs to another user: only its owner may run it (functions deployed by governance are for every user)`),
      run: async (ctx) => {
        if (!FnService.mayCall(f.owner, ctx.creator)) throw new TesseraError('permission_denied', `process function ${f.id} belongs to another user: only its owner may run it (functions deployed by governance are for every user)`);
        const r = await this.run(f, { 'content-type': ['text/plain'] }, Buffer.from(ctx.payload ?? ''), false);
        if (r.status !== 200) throw new TesseraError('function_failed', `process function ${f.name} answered ${r.status}: ${r.body.toString('utf8')}`);
        return r.body.toString('utf8');
      },
    };
  }

  /** Ends every function process (and its process group); resolves once they have all exited. */
  /** Each function's process pool, by function id, for the node's metrics. */
  poolUsage(): Array<{ fn: string; idle: number; busy: number; starting: number; waiting: number }> {
    return [...this.pools].map(([fn, pool]) => ({ fn, ...pool.usage }));
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    clearInterval(this.watcher);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }
}
