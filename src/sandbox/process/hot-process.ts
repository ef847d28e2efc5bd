import type { ChildProcess } from 'node:child_process';
import { lstatSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Launch } from './confine.js';
import { type FnResponse, type Headers, fnError, fromRaw, stripHop } from './fn-protocol.js';
import { endTied, spawnTied } from './lifetime.js';

// One hot function process speaking Fn's http-stream format (fn.md §2): it listens on a unix socket it
// announces with the symlink handshake, and takes one POST /call at a time.

export interface FnCall {
  callId: string;
  contentType?: string;
  body: Buffer;
  deadline: Date;
  /** Headers to send: already shaped for /invoke (pass-through) or a trigger (Fn-Http-H-*). */
  headers: Headers;
}

export type { FnResponse } from './fn-protocol.js';

export interface ProcessSpec {
  /**
   * Prepares one process: checks its code against the approved digest and returns how to start it,
   * confined, with `env` (the format's FN_* variables) added last.
   */
  launch(opts: { socketDir?: string; env: Record<string, string> }): Promise<Launch>;
  /** A fresh directory for an http-stream process's socket, reachable by the function. */
  socketDir(): string;
  startTimeoutMs: number;
  maxResponseBytes: number;
}

/** Largest response header block a function may send (Node's default); larger is Fn's 502. */
const MAX_RESPONSE_HEADER_BYTES = 16 * 1024;

export class FnCallError extends Error {
  constructor(
    readonly response: FnResponse,
    /** Whether the process must be replaced. */
    readonly kill: boolean,
  ) {
    super((JSON.parse(response.body.toString()) as { message: string }).message);
  }
}

export class HotProcess {
  private readonly dir: string;
  /** The unix socket the process listens on (for benchmarks that bypass the protocol layer). */
  readonly socket: string;
  private child!: ChildProcess;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  exited = false;
  /** The call being handled, or the last one: a process's output can arrive just after its response. */
  currentCall: string | null = null;
  lastUsed = Date.now();

  constructor(
    private readonly spec: ProcessSpec,
    private readonly logger: Logger,
  ) {
    // Short on purpose: a unix socket path holds at most 107 bytes.
    this.dir = spec.socketDir();
    this.socket = join(this.dir, 'lsnr.sock');
  }

  /** Starts the process and waits for the handshake: 504 on time-out, 502 for a bad socket or an early exit. */
  async start(): Promise<void> {
    let launch: Launch;
    try {
      launch = await this.spec.launch({ socketDir: this.dir, env: { FN_FORMAT: 'http-stream' } });
    } catch (err) {
      rmSync(this.dir, { recursive: true, force: true });
      this.exited = true;
      throw err;
    }
    this.child = spawnTied(launch.setup, launch.argv, { cwd: launch.cwd, env: launch.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.once('exit', () => launch.release());
    this.child.on('exit', () => (this.exited = true));
    this.child.on('error', () => (this.exited = true));
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => this.logger.info({ call_id: this.currentCall ?? undefined, fn_output: true }, line));
    }
    const started = Date.now();
    for (;;) {
      if (this.exited) throw new FnCallError(fnError(502, 'Container failed to initialize, please ensure you are using the latest fdk and check the logs'), true);
      try {
        const link = lstatSync(this.socket);
        if (link.isSymbolicLink() && readlinkSync(this.socket).includes('/')) throw new Error('symlink target is not a bare name');
        if (!statSync(this.socket).isSocket()) throw new Error('not a socket');
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') {
          await this.kill();
          throw new FnCallError(fnError(502, `Container failed to initialize: ${(err as Error).message}`), true);
        }
      }
      if (Date.now() - started > this.spec.startTimeoutMs) {
        await this.kill();
        throw new FnCallError(fnError(504, 'Container initialization timed out, please ensure you are using the latest fdk and check the logs'), true);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** One call. Throws FnCallError with Fn's status and whether the process must go. */
  async call(call: FnCall): Promise<FnResponse> {
    this.currentCall = call.callId;
    try {
      return await this.send(call, true);
    } finally {
      this.lastUsed = Date.now();
    }
  }

  private send(call: FnCall, mayRetry: boolean): Promise<FnResponse> {
    const remaining = call.deadline.getTime() - Date.now();
    if (remaining <= 0) return Promise.reject(new FnCallError(fnError(504, 'Timed out'), true));
    return new Promise((resolve, reject) => {
      let settled = false;
      let responded = false;
      const done = (fn: () => void) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          fn();
        }
      };
      const req = request(
        {
          socketPath: this.socket,
          path: '/call',
          method: 'POST',
          agent: this.agent,
          maxHeaderSize: MAX_RESPONSE_HEADER_BYTES,
          // Every request is a POST /call with a length, whatever the client's method or framing (Fn's agent).
          headers: { ...stripHop(call.headers), host: 'localhost', 'content-length': call.body.length, 'Fn-Call-Id': call.callId, 'Fn-Deadline': call.deadline.toISOString().replace(/\.\d+Z$/, 'Z') },
        },
        (res) => {
          responded = true;
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > this.spec.maxResponseBytes) {
              res.destroy();
              done(() => reject(new FnCallError(fnError(502, 'function response body too large'), true)));
            } else chunks.push(c);
          });
          res.on('error', () => done(() => reject(new FnCallError(fnError(502, 'error receiving function response'), true))));
          res.on('end', () =>
            done(() => {
              const status = res.statusCode ?? 0;
              const headers = stripHop(fromRaw(res.rawHeaders));
              if (status === 200) return resolve({ status, headers, body: Buffer.concat(chunks) });
              if (status === 502) return reject(new FnCallError(fnError(502, 'function failed'), false));
              if (status === 504) return reject(new FnCallError(fnError(504, 'Timed out'), false));
              reject(new FnCallError(fnError(502, 'invalid function response'), true));
            }),
          );
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        done(() => reject(new FnCallError(fnError(504, 'Timed out'), true)));
      }, remaining);
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive connection the process closed just as we reused it: the request never reached the
        // function, so one retry on a fresh connection is safe (the source of Fn's sporadic 502s, fn#1470).
        // Likewise a fresh connection it closed (an idle time-out shorter than the node's way from connect
        // to write, under load) before taking the whole request: our write failed with EPIPE, no answer began.
        const closedBeforeRequest = req.reusedSocket ? err.code === 'ECONNRESET' || err.code === 'EPIPE' : err.code === 'EPIPE' && !responded;
        if (err.code === 'HPE_HEADER_OVERFLOW') {
          done(() => reject(new FnCallError(fnError(502, 'function response header too large'), true)));
          return;
        }
        if (mayRetry && closedBeforeRequest) {
          done(() => this.send(call, false).then(resolve, reject));
          return;
        }
        done(() => reject(new FnCallError(fnError(502, 'error receiving function response'), true)));
      });
      req.end(call.body);
    });
  }

  /** Ends the process and everything in its process group; resolves once it has exited. */
  async kill(): Promise<void> {
    this.agent.destroy();
    if (this.child) await endTied(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
