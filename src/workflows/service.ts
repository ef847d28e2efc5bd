import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import type { Store } from '../store/types.js';
import type { CallRet } from './instance.js';
import type { ResourceTarget, WorkflowRuntime } from './runtime.js';
import { BUILTIN_FUNCTIONS, checkWorkflow, type WorkflowSpec } from './spec.js';

const RUNNING = 'workflows.running';

interface WorkflowRecord {
  id: string;
  name: string;
  owner: string;
  spec: WorkflowSpec;
  started_at: string;
}

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

const METHODS: Record<string, string> = { GET: 'Get', HEAD: 'Head', POST: 'Post', PUT: 'Put', DELETE: 'Delete', PATCH: 'Patch' };
const utf8 = (b: ArrayBuffer | null) => (b ? Buffer.from(b).toString('utf8') : '');

/**
 * Workflows: started from EDGELESS JSON, kept in the Store so they come back after a restart with each
 * instance's last synced state (state keys are stable: workflow name + function name, or the function's
 * `state-key` annotation), stopped, listed and inspected; plus the http-ingress and http-egress resources.
 */
export class WorkflowService {
  /** Settles when the workflows running before the last restart are back. */
  private restoring: Promise<void> | null = null;
  /** Workflows stopped while they were being restored, which the restore must not bring back. */
  private readonly stopped = new Set<string>();
  /** Names of workflows whose instances are loading (a start awaits isolate threads). */
  private readonly starting = new Set<string>();
  private readonly ingress = new Map<string, Array<{ configurations: Record<string, string>; target: string }>>();

  constructor(
    private readonly opts: { store: Store; runtime: WorkflowRuntime; logger: Logger; egressHosts: string[]; eventLimits: EventLimits },
  ) {}

  async start(owner: string, input: { name?: string; spec: unknown }): Promise<WorkflowRecord> {
    const spec = checkWorkflow(input.spec);
    const name = input.name ?? randomUUID();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new TesseraError('invalid_input', `workflow name '${name}' must be 1-64 letters, digits, '_', '.' or '-'`);
    const running = this.list();
    if (running.some((w) => w.name === name) || this.starting.has(name)) throw new TesseraError('conflict', `a workflow named '${name}' is already running; stop it first`);
    const record: WorkflowRecord = { id: randomUUID(), name, owner, spec, started_at: new Date().toISOString() };
    this.starting.add(name);
    try {
      await this.launch(record);
      this.opts.store.transact((tx) => tx.put(RUNNING, record.id, record));
    } finally {
      this.starting.delete(name);
    }
    return record;
  }

  /** Spawns functions, then resources, then installs mappings, then inits; any failure undoes it all. */
  private async launch(record: WorkflowRecord) {
    const { runtime } = this.opts;
    const ids = new Map<string, string>();
    try {
      for (const f of record.spec.functions) {
        const cls = f.class_specification;
        const code = cls.function_type === 'BUILTIN' ? Buffer.from(BUILTIN_FUNCTIONS[cls.id]) : Buffer.from(cls.binary!, 'base64');
        const stateKey = f.annotations?.['state-policy'] === 'transient' ? null : `${record.name}/${f.annotations?.['state-key'] ?? f.name}`;
        try {
          const limits = { eventMs: eventTimeout(f.name, f.annotations?.['event-timeout-ms'], this.opts.eventLimits) };
          ids.set(f.name, await runtime.spawn({ workflowId: record.id, name: f.name, kind: cls.function_type === 'RUST_WASM' ? 'wasm' : 'js', code, initPayload: f.annotations?.['init-payload'] ?? null, stateKey, limits }));
        } catch (err) {
          if (err instanceof TesseraError) throw err;
          throw new TesseraError('invalid_input', `function '${f.name}' cannot be loaded: ${(err as Error).message}`);
        }
      }
      const entries: Array<{ configurations: Record<string, string>; target: string }> = [];
      for (const r of record.spec.resources) {
        if (r.class_type === 'http-egress') runtime.addResource(record.id, r.name, this.egress());
        if (r.class_type === 'http-ingress') {
          const target = r.output_mapping?.new_request;
          if (target) entries.push({ configurations: r.configurations ?? {}, target });
        }
      }
      for (const f of record.spec.functions) runtime.patch(ids.get(f.name)!, f.output_mapping ?? {});
      for (const f of record.spec.functions) await runtime.init(ids.get(f.name)!);
      if (this.stopped.has(record.id)) throw new TesseraError('conflict', `workflow ${record.id} was stopped while it started`);
      this.ingress.set(record.id, entries);
    } catch (err) {
      await runtime.stopWorkflow(record.id);
      throw err;
    }
  }

  /** At start: every workflow that was running comes back, each instance with its last synced state. */
  async restoreAll(): Promise<number> {
    const restoring = (async () => {
      let n = 0;
      for (const record of this.list()) {
        if (this.stopped.has(record.id)) continue;
        try {
          await this.launch(record);
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
    }
  }

  async stop(id: string, user: string): Promise<WorkflowRecord> {
    const record = this.getOwn(id, user);
    this.stopped.add(id);
    this.ingress.delete(id);
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
  inspect(id: string, user: string) {
    const record = this.getOwn(id, user);
    return { id: record.id, name: record.name, owner: record.owner, started_at: record.started_at, functions: this.opts.runtime.inspect(id), resources: record.spec.resources.map((r) => ({ name: r.name, class_type: r.class_type })) };
  }

  /** http-ingress: routes a request to a matching workflow, as EDGELESS's request/response JSON. */
  async handleIngress(req: IngressRequest): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const notFound = { status: 404, headers: { 'content-type': 'text/plain' }, body: Buffer.from('Not Found') };
    const method = METHODS[req.method];
    const candidates = [...this.ingress.entries()].flatMap(([workflowId, entries]) =>
      entries
        .filter(({ configurations: c }) => {
          if (c.host && c.host !== req.host.split(':')[0]) return false;
          const allowed = (c.method ?? c.methods ?? '').split(',').map((m) => m.trim().toUpperCase()).filter(Boolean);
          return allowed.length === 0 || allowed.includes(req.method);
        })
        .map((e) => ({ workflowId, ...e })),
    );
    if (method && candidates.length === 0 && this.restoring) {
      // Right after a restart the workflows come back while the node already answers: a request no
      // restored workflow matches yet waits for the rest to come back before it is refused.
      await this.restoring;
      return this.handleIngress(req);
    }
    if (!method || candidates.length === 0) return notFound;
    const chosen = candidates[Math.floor(Math.random() * candidates.length)];
    if (chosen.configurations.async === 'true') {
      const body = chosen.configurations.encode_base64 === 'true' ? req.body.toString('base64') : req.body.toString('utf8');
      this.opts.runtime.castTo(chosen.workflowId, chosen.target, body);
      return { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('OK') };
    }
    const request = { method, protocol: 'HTTPS', host: req.host, path: req.path, body: req.body.length ? [...req.body] : null, headers: req.headers };
    const ret = await this.opts.runtime.callTo(chosen.workflowId, chosen.target, JSON.stringify(request));
    if (ret.type !== 1) return notFound;
    try {
      const response = JSON.parse(utf8(ret.data)) as { status: number; headers?: Record<string, string>; body?: number[] | null };
      return { status: response.status, headers: response.headers ?? {}, body: Buffer.from(response.body ?? []) };
    } catch {
      return { status: 502, headers: { 'content-type': 'text/plain' }, body: Buffer.from('the workflow replied with something that is not an EdgelessHTTPResponse') };
    }
  }

  /**
   * http-egress: a call with an EdgelessHTTPRequest performs it (only to configured hosts) and replies
   * with an EdgelessHTTPResponse. The calling guest's thread waits; the node's event loop does not.
   */
  private egress(): ResourceTarget {
    const allowed = new Set(this.opts.egressHosts);
    return {
      cast: () => {},
      call: async (payload: string): Promise<CallRet> => {
        let request: { method: string; protocol?: string; host: string; path: string; body?: number[] | null; headers?: Record<string, string> };
        try {
          request = JSON.parse(payload);
        } catch {
          return { type: 2, data: null };
        }
        if (!allowed.has(request.host)) {
          this.opts.logger.warn({ host: request.host }, 'http-egress to a host that is not in workflows.egress_hosts: Err');
          return { type: 2, data: null };
        }
        const url = `${request.protocol === 'HTTPS' ? 'https' : 'http'}://${request.host}${request.path}`;
        try {
          const res = await fetch(url, { method: request.method.toUpperCase(), headers: request.headers ?? {}, body: request.body ? Buffer.from(request.body) : undefined, signal: AbortSignal.timeout(10_000) });
          const body = Buffer.from(await res.arrayBuffer());
          const data = Buffer.from(JSON.stringify({ status: res.status, headers: Object.fromEntries(res.headers), body: [...body] }));
          return { type: 1, data: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer };
        } catch (err) {
          this.opts.logger.warn({ url, err: (err as Error).message }, 'http-egress request failed: Err');
          return { type: 2, data: null };
        }
      },
    };
  }
}
