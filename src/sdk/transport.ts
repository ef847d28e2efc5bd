import { Agent, request } from 'node:https';
import type { Readable } from 'node:stream';
import { TesseraError } from '../errors/index.js';
import type { NodeVerifier } from './verification.js';

/** An error the node returned: its HTTP status and CCF-style code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface TransportOptions {
  url: string;
  ca: string;
  cert: string;
  key: string;
  token: string;
  verifier: NodeVerifier;
}

/** HTTPS with the user's certificate and token, over an agent that checks every node certificate it meets. */
export class Transport {
  readonly base: URL;
  private readonly agent: Agent;

  constructor(private readonly opts: TransportOptions) {
    this.base = new URL(opts.url);
    if (this.base.protocol !== 'https:') throw new TesseraError('invalid_input', `the node URL must be https, not ${this.base.protocol}`);
    this.agent = new Agent({
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      keepAlive: true,
      maxSockets: 8,
      checkServerIdentity: opts.verifier.checkServerIdentity,
    });
  }

  private open(method: string, target: string, headers: Record<string, string | number>, onResponse: (res: import('node:http').IncomingMessage) => void) {
    const url = new URL(target, this.base);
    return request(url, { method, agent: this.agent, headers: { authorization: `Bearer ${this.opts.token}`, ...headers } }, onResponse);
  }

  private static async fail(res: import('node:http').IncomingMessage): Promise<never> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    let code = 'Unknown';
    let message = Buffer.concat(chunks).toString('utf8');
    try {
      const body = JSON.parse(message) as { error?: { code: string; message: string } };
      code = body.error?.code ?? code;
      message = body.error?.message ?? message;
    } catch {
      /* not JSON: keep the text */
    }
    throw new ApiError(res.statusCode ?? 0, code, message);
  }

  /** A JSON request; resolves with the parsed reply or rejects with ApiError, or with the failed attestation check. */
  json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = this.open(method, path, payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}, (res) => {
        if ((res.statusCode ?? 500) >= 300) return void Transport.fail(res).catch(reject);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Streams a body up (PUT); resolves with the JSON reply. */
  upload<T>(target: string, body: Readable, length: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = this.open('PUT', target, { 'content-type': 'application/octet-stream', 'content-length': length }, (res) => {
        if ((res.statusCode ?? 500) >= 300) return void Transport.fail(res).catch(reject);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T));
      });
      req.on('error', reject);
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    });
  }

  /** A request whose answer is returned as it is, any status (Fn's /invoke). */
  exchange(method: string, target: string, body: Buffer, headers: Record<string, string>): Promise<import('./backend.js').Exchange> {
    return new Promise((resolve, reject) => {
      const req = this.open(method, target, { ...headers, 'content-length': body.length }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const out: Record<string, string[]> = {};
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) (out[res.rawHeaders[i].toLowerCase()] ??= []).push(res.rawHeaders[i + 1]);
          resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Opens a download; resolves with the response stream once the status is known to be good. */
  download(target: string): Promise<import('node:http').IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = this.open('GET', target, {}, (res) => {
        if ((res.statusCode ?? 500) >= 300) return void Transport.fail(res).catch(reject);
        resolve(res);
      });
      req.on('error', reject);
      req.end();
    });
  }

  close() {
    this.agent.destroy();
  }
}
