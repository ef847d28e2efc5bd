import { request } from 'node:https';
import type { Readable } from 'node:stream';

export interface HttpsIdentity {
  cert?: string;
  key?: string;
  token?: string;
  ca: string;
}

export interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json(): any;
}

/** A small HTTPS client for tests: mutual TLS, an optional bearer token, JSON or streamed bodies. */
export function https(url: string, id: HttpsIdentity, opts: { method?: string; json?: unknown; body?: Buffer | Readable; headers?: Record<string, string | number> } = {}): Promise<HttpsReply> {
  const u = new URL(url);
  const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
  if (id.token) headers.authorization = `Bearer ${id.token}`;
  let payload: Buffer | Readable | undefined = opts.body;
  if (opts.json !== undefined) {
    payload = Buffer.from(JSON.stringify(opts.json));
    headers['content-type'] = 'application/json';
  }
  if (Buffer.isBuffer(payload)) headers['content-length'] = payload.length;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', cert: id.cert, key: id.key, ca: id.ca, servername: 'localhost', headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload === undefined) req.end();
    else if (Buffer.isBuffer(payload)) req.end(payload);
    else payload.pipe(req);
  });
}
