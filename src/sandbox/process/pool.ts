import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { fnError } from './fn-protocol.js';
import { type FnCall, FnCallError, type FnResponse, HotProcess, type ProcessSpec } from './hot-process.js';
import { endTied } from './lifetime.js';
import { StdioProcess, coldCall } from './stdio-process.js';

/** What the pool needs of a hot process, whatever its format. */
interface FnProcess {
  exited: boolean;
  lastUsed: number;
  start(): Promise<void>;
  call(call: FnCall): Promise<FnResponse>;
  /** Ends the process and its process group; resolves once it has exited. */
  kill(): Promise<void>;
}

/** Fn's http-stream, or one of the legacy formats Tessera keeps adapters for. */
export type FnFormat = 'http-stream' | 'json' | 'cloudevent' | 'default';

export interface PoolOptions {
  format?: FnFormat;
  spec: ProcessSpec;
  maxProcesses: number;
  idleTimeoutMs: number;
  logger: Logger;
}

/**
 * The hot processes of one function: one call at a time per process, from zero up to `maxProcesses`
 * under load, idle ones stopped after `idleTimeoutMs`, broken ones replaced by the next call. Once closed
 * (shutdown, redeploy), no process outlives the call it is busy with, including ones that were starting.
 */
export class ProcessPool {
  private readonly idle: FnProcess[] = [];
  private readonly busy = new Set<FnProcess>();
  /** Processes of `default`-format calls in flight. */
  private readonly cold = new Set<ChildProcess>();
  /** Processes being killed, so close() can wait for them. */
  private readonly ending = new Set<Promise<void>>();
  private closed = false;
  private starting = 0;
  private readonly waiters: Array<(p: FnProcess | null) => void> = [];
  private readonly sweeper: NodeJS.Timeout;
  readonly stats = { started: 0, replaced: 0, calls: 0 };

  constructor(private readonly opts: PoolOptions) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, opts.idleTimeoutMs));
    this.sweeper.unref();
  }

  get size() {
    return this.idle.length + this.busy.size + this.starting;
  }

  /** Processes by state, and calls waiting for one, for the node's metrics. */
  get usage() {
    return { idle: this.idle.length, busy: this.busy.size + this.cold.size, starting: this.starting, waiting: this.waiters.length };
  }

  private async acquire(deadline: Date): Promise<FnProcess> {
    for (;;) {
      const p = this.idle.pop();
      if (p && !p.exited) {
        this.busy.add(p);
        return p;
      }
      if (p) this.end(p);
      if (this.size < this.opts.maxProcesses) {
        this.starting++;
        const fresh: FnProcess = this.opts.format === 'json' || this.opts.format === 'cloudevent' ? new StdioProcess(this.opts.format, this.opts.spec, this.opts.logger) : new HotProcess(this.opts.spec, this.opts.logger);
        try {
          await fresh.start();
          this.stats.started++;
          this.busy.add(fresh);
          return fresh;
        } catch (err) {
          this.end(fresh);
          throw err;
        } finally {
          this.starting--;
        }
      }
      const got = await new Promise<FnProcess | null>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(() => {
          const i = this.waiters.indexOf(resolve);
          if (i >= 0) {
            this.waiters.splice(i, 1);
            resolve(null);
          }
        }, Math.max(0, deadline.getTime() - Date.now())).unref();
      });
      if (got) {
        this.busy.add(got);
        return got;
      }
      throw new FnCallError(fnError(503, 'Timed out - server too busy', { 'retry-after': ['15'] }), false);
    }
  }

  private release(p: FnProcess, broken: boolean) {
    this.busy.delete(p);
    if (this.closed) {
      this.end(p);
      const waiter = this.waiters.shift();
      if (waiter) void this.acquireFor(waiter);
      return;
    }
    if (broken || p.exited) {
      this.end(p);
      this.stats.replaced++;
      const waiter = this.waiters.shift();
      if (waiter) void this.acquireFor(waiter);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(p);
    else this.idle.push(p);
  }

  private async acquireFor(waiter: (p: FnProcess | null) => void) {
    try {
      waiter(await this.acquire(new Date(Date.now() + this.opts.spec.startTimeoutMs)));
    } catch {
      waiter(null);
    }
  }

  async call(call: FnCall): Promise<FnResponse> {
    if (this.opts.format === 'default') {
      this.stats.calls++;
      return coldCall(this.opts.spec, call, this.opts.logger, this.cold);
    }
    const p = await this.acquire(call.deadline);
    this.stats.calls++;
    try {
      const response = await p.call(call);
      this.release(p, false);
      return response;
    } catch (err) {
      this.release(p, !(err instanceof FnCallError) || err.kill);
      throw err;
    }
  }

  private sweep() {
    const now = Date.now();
    for (let i = this.idle.length - 1; i >= 0; i--) {
      if (now - this.idle[i].lastUsed > this.opts.idleTimeoutMs || this.idle[i].exited) this.end(this.idle.splice(i, 1)[0]);
    }
  }

  private end(p: FnProcess) {
    const ended: Promise<void> = p
      .kill()
      .catch((err) => this.opts.logger.warn({ err: (err as Error).message }, 'could not end a function process'))
      .finally(() => this.ending.delete(ended));
    this.ending.add(ended);
  }

  /** Kills every process of the pool, idle, busy and cold, and resolves once they have all exited. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const p of [...this.idle, ...this.busy]) this.end(p);
    this.idle.length = 0;
    this.busy.clear();
    const cold = [...this.cold].map((c) => endTied(c));
    await Promise.all([...this.ending, ...cold]);
  }
}
