import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { type FnResponse, type Headers, first, fnError as fnErrorResponse } from './fn-protocol.js';
import { type FnCall, FnCallError, type ProcessSpec } from './hot-process.js';
import { endTied, spawnTied } from './lifetime.js';

// Fn's legacy formats (fn.md §3), kept as adapters beside http-stream: `json` and `cloudevent` are hot,
// one JSON envelope in on stdin and one out on stdout per call; `default` is cold, one process per call
// with the body on stdin and the answer on stdout.

const fnError = (status: number, message: string) => new FnCallError(fnErrorResponse(status, message), true);

/** Splits a byte stream into top-level JSON values, minding strings and escapes. */
export class JsonObjectSplitter {
  private buffer = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;

  push(chunk: string): string[] {
    const out: string[] = [];
    const base = this.buffer.length;
    this.buffer += chunk;
    for (let i = base; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === '{') {
        if (this.depth++ === 0) this.start = i;
      } else if (c === '}' && this.depth > 0 && --this.depth === 0) {
        out.push(this.buffer.slice(this.start, i + 1));
        this.buffer = this.buffer.slice(i + 1);
        i = -1;
        this.start = -1;
      } else if (this.depth === 0 && !/\s/.test(c)) {
        throw new Error('Excess data in stream');
      }
    }
    return out;
  }
}

const header = (call: FnCall, name: string) => first(call.headers, name);

const multi = (headers: Record<string, string[] | string> | undefined): Headers =>
  Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.map(String) : [String(v)]]));

function envelope(format: 'json' | 'cloudevent', call: FnCall, method: string, url: string): unknown {
  const protocol = { type: 'http', method, request_url: url, headers: call.headers };
  const deadline = call.deadline.toISOString();
  const body = call.body.toString('utf8');
  if (format === 'json') return { call_id: call.callId, deadline, body, content_type: call.contentType ?? header(call, 'content-type') ?? '', protocol };
  return {
    cloudEventsVersion: '0.1',
    eventID: call.callId,
    source: url,
    eventType: 'http',
    eventTypeVersion: '',
    eventTime: new Date().toISOString(),
    schemaURL: '',
    contentType: call.contentType ?? header(call, 'content-type') ?? 'application/json',
    data: (() => {
      try {
        return JSON.parse(body);
      } catch {
        return body;
      }
    })(),
    extensions: { deadline, protocol },
  };
}

function response(format: 'json' | 'cloudevent', text: string): FnResponse {
  let out: { body?: string; data?: unknown; content_type?: string; contentType?: string; protocol?: { status_code?: number; headers?: Record<string, string[]> }; extensions?: { protocol?: { status_code?: number; headers?: Record<string, string[]> } } };
  try {
    out = JSON.parse(text);
  } catch {
    throw fnError(502, 'invalid json response from function');
  }
  const protocol = format === 'json' ? out.protocol : out.extensions?.protocol;
  const headers = multi(protocol?.headers);
  const contentType = format === 'json' ? out.content_type : out.contentType;
  if (contentType) headers['content-type'] = [contentType];
  const body = format === 'json' ? (out.body ?? '') : typeof out.data === 'string' ? out.data : JSON.stringify(out.data ?? null);
  return { status: protocol?.status_code ?? 200, headers, body: Buffer.from(body) };
}

/** A hot process speaking the json or cloudevent format over stdin/stdout, one call at a time. */
export class StdioProcess {
  private child!: ChildProcess;
  private splitter = new JsonObjectSplitter();
  private pending: { resolve: (text: string) => void; reject: (err: Error) => void } | null = null;
  exited = false;
  currentCall: string | null = null;
  lastUsed = Date.now();

  constructor(
    private readonly format: 'json' | 'cloudevent',
    private readonly spec: ProcessSpec,
    private readonly logger: Logger,
    private readonly target: { method: string; url: string } = { method: 'POST', url: 'http://localhost/' },
  ) {}

  async start(): Promise<void> {
    const launch = await this.spec.launch({ env: { FN_FORMAT: this.format } });
    this.child = spawnTied(launch.setup, launch.argv, { cwd: launch.cwd, env: launch.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.on('exit', () => {
      launch.release();
      this.exited = true;
      this.pending?.reject(fnError(502, 'error receiving function response'));
      this.pending = null;
    });
    this.child.stdin!.on('error', () => {});
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      try {
        for (const text of this.splitter.push(chunk)) {
          this.pending?.resolve(text);
          this.pending = null;
        }
      } catch (err) {
        this.pending?.reject(fnError(502, (err as Error).message));
        this.pending = null;
      }
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.logger.info({ call_id: this.currentCall ?? undefined, fn_output: true }, line));
  }

  async call(call: FnCall): Promise<FnResponse> {
    if (this.exited) throw fnError(502, 'error receiving function response');
    this.currentCall = call.callId;
    const remaining = call.deadline.getTime() - Date.now();
    try {
      const text = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending = null;
          reject(fnError(504, 'Timed out'));
        }, Math.max(0, remaining));
        this.pending = {
          resolve: (t) => (clearTimeout(timer), resolve(t)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        };
        this.child.stdin!.write(JSON.stringify(envelope(this.format, call, header(call, 'fn-http-method') ?? this.target.method, header(call, 'fn-http-request-url') ?? this.target.url)));
      });
      return response(this.format, text);
    } finally {
      this.lastUsed = Date.now();
    }
  }

  /** Ends the process and everything in its process group; resolves once it has exited. */
  kill(): Promise<void> {
    return this.child ? endTied(this.child) : Promise.resolve();
  }
}

/** The default format: a cold process per call, the body on stdin, the answer on stdout. */
export async function coldCall(spec: ProcessSpec, call: FnCall, logger: Logger, running?: Set<ChildProcess>): Promise<FnResponse> {
  const headerEnv = Object.fromEntries(Object.entries(call.headers).map(([k, v]) => [`FN_HEADER_${k.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('-')}`, v.join(', ')]));
  const launch = await spec.launch({
    env: { ...headerEnv, FN_FORMAT: 'default', FN_CALL_ID: call.callId, FN_DEADLINE: call.deadline.toISOString(), FN_METHOD: header(call, 'fn-http-method') ?? 'POST', FN_REQUEST_URL: header(call, 'fn-http-request-url') ?? 'http://localhost/' },
  });
  const child = spawnTied(launch.setup, launch.argv, { cwd: launch.cwd, env: launch.env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.once('exit', () => launch.release());
  running?.add(child);
  child.once('exit', () => running?.delete(child));
  createInterface({ input: child.stderr! }).on('line', (line) => logger.info({ call_id: call.callId, fn_output: true }, line));
  const chunks: Buffer[] = [];
  let size = 0;
  child.stdout!.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= spec.maxResponseBytes) chunks.push(c);
  });
  child.stdin!.on('error', () => {});
  child.stdin!.end(call.body);
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      void endTied(child);
      resolve(-1);
    }, Math.max(0, call.deadline.getTime() - Date.now()));
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code === -1) throw fnError(504, 'Timed out');
  if (size > spec.maxResponseBytes) throw fnError(502, 'function response body too large');
  if (code !== 0) throw fnError(502, 'function failed');
  return { status: 200, headers: { 'content-type': ['application/octet-stream'] }, body: Buffer.concat(chunks) };
}
