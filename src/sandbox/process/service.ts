import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { TesseraError } from '../../errors/index.js';
import type { Store, Tx } from '../../store/types.js';
import type { FunctionDefinition } from '../../functions/registry.js';
import { commandOf, type FuncFile, readFuncFile } from './funcfile.js';
import { type FnResponse, FnCallError } from './hot-process.js';
import { type FnFormat, ProcessPool } from './pool.js';

const FNS = 'fn.functions';

export interface FnRecord {
  id: string;
  app: string;
  name: string;
  dir: string;
  func: FuncFile;
  created_at: string;
}

export interface FnSettings {
  maxProcessesPerFunction: number;
  startTimeoutMs: number;
  maxResponseBytes: number;
  openFiles: number;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Fn-style 26-character base32 ids: 48-bit milliseconds, then randomness. */
export function fnId(): string {
  let time = Date.now();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[time % 32] + head;
    time = Math.floor(time / 32);
  }
  return head + [...randomBytes(16)].slice(0, 16).map((b) => CROCKFORD[b % 32]).join('');
}

const canonical = (k: string) => k.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase()).join('-');

/**
 * Functions in any language as hot processes over Fn's http-stream format: registry (func.yaml), one pool
 * per function, and the two ways in: /invoke (FDK headers as they are) and HTTP triggers (Fn-Http-* mapping).
 */
export class FnService {
  private readonly pools = new Map<string, ProcessPool>();

  constructor(private readonly opts: { store: Store; logger: Logger; settings: FnSettings }) {}

  /** Registers (or re-registers) a function directory; the caller has already been allowed to. */
  deploy(dir: string, app: string): FnRecord {
    return this.opts.store.transact((tx) => this.deployIn(tx, dir, app)).result;
  }

  /** Checks a function directory without registering it. */
  check(dir: string): string | null {
    try {
      const abs = resolve(dir);
      if (!existsSync(abs)) return `no function directory ${abs}`;
      commandOf(readFuncFile(abs));
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** deploy, inside a caller's transaction (a governance proposal). */
  deployIn(tx: Tx, dir: string, app: string): FnRecord {
    const abs = resolve(dir);
    if (!existsSync(abs)) throw new TesseraError('not_found', `no function directory ${abs}`);
    const func = readFuncFile(abs);
    commandOf(func);
    const existing = tx.list<FnRecord>(FNS).map(([, f]) => f).find((f) => f.app === app && f.name === func.name);
    const record: FnRecord = { id: existing?.id ?? fnId(), app, name: func.name, dir: abs, func, created_at: new Date().toISOString() };
    tx.put(FNS, record.id, record);
    void this.pools.get(record.id)?.close();
    this.pools.delete(record.id);
    return record;
  }

  list(): FnRecord[] {
    return this.opts.store.read((tx) => tx.list<FnRecord>(FNS).map(([, f]) => f));
  }

  get(id: string): FnRecord {
    const f = this.opts.store.read((tx) => tx.get<FnRecord>(FNS, id));
    if (!f) throw new TesseraError('not_found', `no function ${id}`, { ccf: 'FunctionNotFound' });
    return f;
  }

  private pool(f: FnRecord): ProcessPool {
    let pool = this.pools.get(f.id);
    if (!pool) {
      pool = new ProcessPool({
        format: (f.func.format as FnFormat | undefined) ?? 'http-stream',
        spec: {
          command: commandOf(f.func),
          cwd: f.dir,
          env: { FN_MEMORY: String(f.func.memory ?? 128), FN_TYPE: 'sync', FN_FN_ID: f.id, FN_APP_ID: f.app, ...(f.func.config ?? {}) },
          startTimeoutMs: this.opts.settings.startTimeoutMs,
          maxResponseBytes: this.opts.settings.maxResponseBytes,
          openFiles: this.opts.settings.openFiles,
          memoryMb: f.func.memory ?? 128,
          runtime: f.func.runtime ?? 'binary',
        },
        maxProcesses: this.opts.settings.maxProcessesPerFunction,
        idleTimeoutMs: (f.func.idle_timeout ?? 30) * 1000,
        logger: this.opts.logger.child({ fn: f.name, fn_id: f.id }),
      });
      this.pools.set(f.id, pool);
    }
    return pool;
  }

  private async run(f: FnRecord, headers: Record<string, string>, body: Buffer, detached: boolean): Promise<FnResponse> {
    const callId = fnId();
    const call = { callId, body, headers, deadline: new Date(Date.now() + (f.func.timeout ?? 30) * 1000) };
    const pool = this.pool(f);
    if (detached) {
      pool.call(call).catch((err) => this.opts.logger.warn({ fn: f.name, call_id: callId, err: (err as Error).message }, 'detached call failed'));
      return { status: 202, headers: { 'fn-call-id': callId }, body: Buffer.alloc(0) };
    }
    try {
      const r = await pool.call(call);
      return { ...r, headers: { ...r.headers, 'fn-call-id': callId } };
    } catch (err) {
      if (err instanceof FnCallError) return { ...err.response, headers: { ...err.response.headers, 'fn-call-id': callId } };
      throw err;
    }
  }

  /** POST /invoke/{fn_id}: the client's headers pass through; the FDK's 200 comes back as it is. */
  invoke(id: string, headers: Record<string, string>, body: Buffer): Promise<FnResponse> {
    const f = this.get(id);
    const detached = (headers['fn-invoke-type'] ?? '').toLowerCase() === 'detached';
    const pass = Object.fromEntries(Object.entries(headers).filter(([k]) => !['host', 'authorization', 'content-length', 'connection', 'fn-invoke-type'].includes(k)));
    return this.run(f, pass, body, detached);
  }

  /** ANY /t/{app}/{source}: headers renamed Fn-Http-H-*, status and headers mapped back from the FDK's. */
  async trigger(app: string, source: string, method: string, url: string, headers: Record<string, string>, body: Buffer): Promise<FnResponse> {
    const f = this.list().find((fn) => fn.app === app && (fn.func.triggers ?? []).some((t) => t.source === source));
    if (!f) throw new TesseraError('not_found', `no trigger ${source} in app ${app}`);
    const sent: Record<string, string> = { 'Fn-Http-Method': method, 'Fn-Http-Request-Url': url, 'Fn-Intent': 'httprequest' };
    for (const [k, v] of Object.entries(headers)) {
      if (['host', 'authorization', 'content-length', 'connection'].includes(k)) continue;
      if (k === 'content-type') sent['Content-Type'] = v;
      else sent[`Fn-Http-H-${canonical(k)}`] = v;
    }
    const r = await this.run(f, sent, body, false);
    if (r.status !== 200) return r;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers)) {
      const lower = k.toLowerCase();
      if (lower.startsWith('fn-http-h-')) out[k.slice('fn-http-h-'.length)] = v;
      else if (lower === 'content-type' || lower === 'fn-call-id') out[lower] = v;
    }
    const status = Number(r.headers['fn-http-status'] ?? 200);
    return { status: Number.isInteger(status) && status >= 100 ? status : 200, headers: out, body: r.body };
  }

  /**
   * A process function as a task's function (`fn:<id>`): the payload is the call body, the 200 body the
   * task's result. Lets tasks run code in any language, under the same registration rules.
   */
  taskDefinition(id: string): FunctionDefinition | undefined {
    const f = this.opts.store.read((tx) => tx.get<FnRecord>(FNS, id));
    if (!f) return undefined;
    return {
      name: `fn:${f.id}`,
      kind: 'process',
      type: 'Single',
      description: `process function ${f.app}/${f.name}`,
      interface: { payload: 'text', arguments: [], inputs: [], outputs: [] },
      run: async (ctx) => {
        const r = await this.run(f, { 'content-type': 'text/plain' }, Buffer.from(ctx.payload ?? ''), false);
        if (r.status !== 200) throw new TesseraError('function_failed', `process function ${f.name} answered ${r.status}: ${r.body.toString('utf8')}`);
        return r.body.toString('utf8');
      },
    };
  }

  /** Ends every function process (and its process group); resolves once they have all exited. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }
}
