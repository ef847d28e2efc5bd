// Experiment (not part of the suite): what a minimal Node proxy costs between the same load generator and
// the same hot function processes, to tell Tessera's own per-call cost from the cost of any one-thread
// Node HTTPS front end. Starts a node and deploys the echo function as bench/fn.ts does, then serves, in
// this process, the floor variants below on their own ports and drives each with bench/fn-load.js:
//   https-proxy: HTTPS + mutual TLS, a bearer-token string compare, forward to a free process (one call
//                at a time per process, a queue otherwise) over a kept-alive connection: Tessera's shape;
//   http-proxy:  the same without TLS (what TLS costs);
//   https-raw:   https-proxy with a hand-written HTTP/1.1 client on one socket per process instead of
//                node:http's request and Agent (what a lean client to the process would save);
//   https-echo:  HTTPS + mutual TLS answering itself (the front end alone, no second hop).
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { Agent as HttpAgent, type IncomingMessage, type ServerResponse, createServer as createHttpServer, request as httpRequest } from 'node:http';
import { Agent, createServer as createHttpsServer, request } from 'node:https';
import { type AddressInfo, type Socket, connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startNode, tessera } from '../test/helpers/cli.js';
import { fnDir, nodeYaml } from '../test/helpers/fn-fixtures.js';
import type { LoadResult } from './fn-load.js';
import { median } from './stats.js';
import { identitiesDirOf } from '../src/node/datadir.js';

const PROCESSES = Number(process.env.BENCH_FN_PROCESSES ?? Math.max(1, Math.min(4, availableParallelism())));
const CALLERS = Number(process.env.BENCH_CALLERS ?? 8);
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 4);
const VARIANTS = (process.env.FLOOR_VARIANTS ?? 'direct,tessera,https-proxy,https-raw,http-proxy,https-echo').split(',');

/** One kept-alive connection to a function process, requests written and responses parsed by hand (Content-Length or chunked). */
class RawClient {
  private readonly sock: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private pending: ((r: { status: number; body: Buffer }) => void) | null = null;
  constructor(path: string) {
    this.sock = connect(path);
    this.sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.parse();
    });
  }
  call(body: Buffer, callId: string): Promise<{ status: number; body: Buffer }> {
    const head = `POST /call HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nFn-Call-Id: ${callId}\r\nFn-Deadline: ${new Date(Date.now() + 30000).toISOString()}\r\n\r\n`;
    this.sock.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    return new Promise((resolve) => (this.pending = resolve));
  }
  private parse() {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0 || !this.pending) return;
    const head = this.buf.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let at = end + 4;
    const parts: Buffer[] = [];
    if (length) {
      if (this.buf.length < at + Number(length[1])) return;
      parts.push(this.buf.subarray(at, at + Number(length[1])));
      at += Number(length[1]);
    } else {
      for (;;) {
        const eol = this.buf.indexOf('\r\n', at);
        if (eol < 0) return;
        const size = Number.parseInt(this.buf.toString('latin1', at, eol), 16);
        if (this.buf.length < eol + 2 + size + 2) return;
        parts.push(this.buf.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
        if (size === 0) break;
      }
    }
    this.buf = this.buf.subarray(at);
    const resolve = this.pending;
    this.pending = null;
    resolve({ status, body: Buffer.concat(parts) });
  }
}

const node = await startNode({ users: ['alice'], config: (c) => ((c.log.level = 'warn'), (c.fn = { allow_direct_deploy: true, max_processes_per_function: PROCESSES })) });
const fnRun = join(tmpdir(), `tessera-fn-${createHash('sha256').update(node.dir).digest('hex').slice(0, 12)}`);
const alice = node.identity('alice');
const dir = fnDir('echo', nodeYaml('echo'), { 'func.js': "require('@fnproject/fdk').handle((input) => ({ echo: input }));" });
const servers: Array<{ close(): void }> = [];
const loads: ChildProcess[] = [];
try {
  const url = `https://127.0.0.1:${node.ports.https}`;
  const r = await tessera(['fn', 'deploy', dir, '--app', 'bench', '-i', join(identitiesDirOf(node.dir), 'alice'), '--url', url, '--insecure-skip-verification']);
  if (r.code) throw new Error(r.stderr);
  const id = r.stdout.trim();
  const warm = new Agent({ keepAlive: true, maxSockets: CALLERS, ca: node.ca, cert: alice.cert, key: alice.key });
  const body = Buffer.from('{"n":1}');
  for (let i = 0; i < 5; i++)
    await Promise.all(
      Array.from({ length: CALLERS }, () => new Promise<void>((res, rej) => {
        const req = request({ host: '127.0.0.1', port: node.ports.https, servername: 'localhost', path: `/invoke/${id}`, method: 'POST', agent: warm, headers: { authorization: `Bearer ${alice.token}`, 'content-length': body.length } }, (rs) => (rs.resume(), rs.on('end', res)));
        req.on('error', rej);
        req.end(body);
      })),
    );
  warm.destroy();
  const sockets = readdirSync(join(fnRun, 'run')).filter((d) => d.startsWith('fn-')).map((d) => join(fnRun, 'run', d, 'lsnr.sock')).filter((s) => existsSync(s));

  // A pool of the hot processes: one call at a time each, waiters in a queue.
  const free = sockets.map((s) => ({ socket: s, agent: new HttpAgent({ keepAlive: true, maxSockets: 1 }) }));
  const waiting: Array<(p: (typeof free)[number]) => void> = [];
  const acquire = () => new Promise<(typeof free)[number]>((res) => (free.length ? res(free.pop()!) : waiting.push(res)));
  const release = (p: (typeof free)[number]) => (waiting.length ? waiting.shift()!(p) : free.push(p));
  let n = 0;
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${alice.token}`) return res.writeHead(401).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const b = Buffer.concat(chunks);
      const p = await acquire();
      const up = httpRequest({ socketPath: p.socket, path: '/call', method: 'POST', agent: p.agent, headers: { host: 'localhost', 'content-type': 'application/json', 'content-length': b.length, 'Fn-Call-Id': `f${n++}`, 'Fn-Deadline': new Date(Date.now() + 30000).toISOString() } }, (ur) => {
        const out: Buffer[] = [];
        ur.on('data', (c: Buffer) => out.push(c));
        ur.on('end', () => {
          release(p);
          res.writeHead(ur.statusCode!, { 'content-type': ur.headers['content-type'] ?? 'application/json' }).end(Buffer.concat(out));
        });
      });
      up.end(b);
    });
  };
  const rawFree = sockets.map((s) => new RawClient(s));
  const rawWaiting: Array<(c: RawClient) => void> = [];
  const forwardRaw = (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${alice.token}`) return res.writeHead(401).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const c = await new Promise<RawClient>((res) => (rawFree.length ? res(rawFree.pop()!) : rawWaiting.push(res)));
      const r = await c.call(Buffer.concat(chunks), `f${n++}`);
      if (rawWaiting.length) rawWaiting.shift()!(c);
      else rawFree.push(c);
      res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.body);
    });
  };
  const echo = (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${alice.token}`) return res.writeHead(401).end();
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"echo":{"n":1}}'));
  };
  const tls = { cert: node.service.cert, key: node.service.key, ca: node.ca, requestCert: true, rejectUnauthorized: true };
  const listen = async (server: ReturnType<typeof createHttpServer>) => {
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    servers.push(server);
    return (server.address() as AddressInfo).port;
  };
  const ports: Record<string, number> = {
    tessera: node.ports.https,
    direct: 0,
    'https-proxy': await listen(createHttpsServer(tls, forward)),
    'https-raw': await listen(createHttpsServer(tls, forwardRaw)),
    'http-proxy': await listen(createHttpServer(forward)),
    'https-echo': await listen(createHttpsServer(tls, echo)),
  };

  const script = fileURLToPath(new URL('./fn-load.js', import.meta.url));
  const startLoad = (port: number, plain: boolean) => {
    const child = spawn(process.execPath, [script, JSON.stringify({ callers: CALLERS, port, fnId: id, ca: node.ca, cert: alice.cert, key: alice.key, token: alice.token, sockets, plain })], { stdio: ['pipe', 'pipe', 'inherit'] });
    loads.push(child);
    const lines = createInterface({ input: child.stdout! });
    const queue: Array<(r: LoadResult) => void> = [];
    lines.on('line', (l) => queue.shift()?.(JSON.parse(l)));
    return (kind: 'tessera' | 'direct', seconds: number) => new Promise<LoadResult>((res) => (queue.push(res), child.stdin!.write(`${JSON.stringify({ kind, seconds })}\n`)));
  };
  for (const v of VARIANTS) {
    const run = startLoad(ports[v], v === 'http-proxy');
    const kind = v === 'direct' ? 'direct' : 'tessera';
    await run(kind, 1);
    const cpu0 = process.cpuUsage();
    const res = await run(kind, ROUND_S);
    const cpu = process.cpuUsage(cpu0);
    const own = ['https-proxy', 'https-raw', 'http-proxy', 'https-echo'].includes(v) ? ` proxy CPU/call ${((cpu.user + cpu.system) / 1000 / res.calls).toFixed(3)} ms` : '';
    process.stdout.write(`${v.padEnd(12)} ${Math.round(res.calls / res.seconds)} calls/s, p50 ${median(res.latencies).toFixed(3)} ms, load generator CPU/call ${(res.cpu_ms / res.calls).toFixed(3)} ms${own}\n`);
  }
} finally {
  for (const l of loads) l.stdin?.end();
  for (const s of servers) s.close();
  await node.stop();
  await node.cleanup();
  rmSync(fnRun, { recursive: true, force: true });
  rmSync(join(dir, '..'), { recursive: true, force: true });
}
process.exit(0);
