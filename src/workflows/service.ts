import { execFileSync } from 'node:child_process';
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

const METHODS: Record<string, string> = { GET: 'Get', HEAD: 'Head', POST: 'Post', PUT: 'Put', DELETE: 'Delete', PATCH: 'Patch' };
const utf8 = (b: ArrayBuffer | null) => (b ? Buffer.from(b).toString('utf8') : '');

/**
 * Workflows: started from EDGELESS JSON, kept in the Store so they come back after a restart with each
 * instance's last synced state (state keys are stable: workflow name + function name, or the function's
 * `state-key` annotation), stopped, listed and inspected; plus the http-ingress and http-egress resources.
 */
export class WorkflowService {
  private readonly ingress = new Map<string, Array<{ configurations: Record<string, string>; target: string }>>();

  constructor(
    private readonly opts: { store: Store; runtime: WorkflowRuntime; logger: Logger; egressHosts: string[] },
  ) {}

  start(owner: string, input: { name?: string; spec: unknown }): WorkflowRecord {
    const spec = checkWorkflow(input.spec);
    const name = input.name ?? randomUUID();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new TesseraError('invalid_input', `workflow name '${name}' must be 1-64 letters, digits, '_', '.' or '-'`);
    const running = this.list();
    if (running.some((w) => w.name === name)) throw new TesseraError('conflict', `a workflow named '${name}' is already running; stop it first`);
    const record: WorkflowRecord = { id: randomUUID(), name, owner, spec, started_at: new Date().toISOString() };
    this.launch(record);
    this.opts.store.transact((tx) => tx.put(RUNNING, record.id, record));
    return record;
  }

  /** Spawns functions, then resources, then installs mappings, then inits; any failure undoes it all. */
  private launch(record: WorkflowRecord) {
    const { runtime } = this.opts;
    const ids = new Map<string, string>();
    try {
      runtime.reserve(record.id, record.spec.functions.length);
      for (const f of record.spec.functions) {
        const cls = f.class_specification;
        const code = cls.function_type === 'BUILTIN' ? Buffer.from(BUILTIN_FUNCTIONS[cls.id]) : Buffer.from(cls.binary!, 'base64');
        const stateKey = f.annotations?.['state-policy'] === 'transient' ? null : `${record.name}/${f.annotations?.['state-key'] ?? f.name}`;
        try {
          ids.set(f.name, runtime.spawn({ workflowId: record.id, name: f.name, kind: cls.function_type === 'RUST_WASM' ? 'wasm' : 'js', code, initPayload: f.annotations?.['init-payload'] ?? null, stateKey }));
        } catch (err) {
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
      for (const f of record.spec.functions) runtime.init(ids.get(f.name)!);
      this.ingress.set(record.id, entries);
    } catch (err) {
      runtime.stopWorkflow(record.id);
      throw err;
    }
  }

  /** At start: every workflow that was running comes back, each instance with its last synced state. */
  restoreAll(): number {
    let n = 0;
    for (const record of this.list()) {
      try {
        this.launch(record);
        n++;
      } catch (err) {
        this.opts.logger.error({ workflow: record.id, err: (err as Error).message }, 'could not restore a workflow');
      }
    }
    return n;
  }

  stop(id: string, user: string): WorkflowRecord {
    const record = this.getOwn(id, user);
    this.opts.runtime.stopWorkflow(id);
    this.ingress.delete(id);
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
  handleIngress(req: IngressRequest): { status: number; headers: Record<string, string>; body: Buffer } {
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
    if (!method || candidates.length === 0) return notFound;
    const chosen = candidates[Math.floor(Math.random() * candidates.length)];
    if (chosen.configurations.async === 'true') {
      const body = chosen.configurations.encode_base64 === 'true' ? req.body.toString('base64') : req.body.toString('utf8');
      this.opts.runtime.castTo(chosen.workflowId, chosen.target, body);
      return { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('OK') };
    }
    const request = { method, protocol: 'HTTPS', host: req.host, path: req.path, body: req.body.length ? [...req.body] : null, headers: req.headers };
    const ret = this.opts.runtime.callTo(chosen.workflowId, chosen.target, JSON.stringify(request));
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
   * with an EdgelessHTTPResponse. The guest is blocked in its call, so the request runs to completion in a
   * short-lived helper process while the caller waits.
   */
  private egress(): ResourceTarget {
    const allowed = new Set(this.opts.egressHosts);
    return {
      cast: () => {},
      call: (payload: string): CallRet => {
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
        const script = `const r = JSON.parse(require('fs').readFileSync(0, 'utf8'));
fetch(r.url, { method: r.method.toUpperCase(), headers: r.headers, body: r.body ? Buffer.from(r.body) : undefined })
  .then(async (res) => process.stdout.write(JSON.stringify({ status: res.status, headers: Object.fromEntries(res.headers), body: [...Buffer.from(await res.arrayBuffer())] })))
  .catch((e) => { process.stderr.write(String(e)); process.exit(1); });`;
        try {
          const out = execFileSync(process.execPath, ['-e', script], { input: JSON.stringify({ url, method: request.method, headers: request.headers ?? {}, body: request.body ?? null }), timeout: 10_000 });
          const data = Buffer.from(out);
          return { type: 1, data: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer };
        } catch (err) {
          this.opts.logger.warn({ url, err: (err as Error).message }, 'http-egress request failed: Err');
          return { type: 2, data: null };
        }
      },
    };
  }
}
