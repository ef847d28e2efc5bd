// The Fn benchmark's load generator (bench/fn.ts starts it): a process of its own, so that the callers'
// HTTP, TLS and JSON work is not done on the benchmark's (or the node's) event loop. It keeps one
// kept-alive connection per caller for its whole life and, for each command it reads on stdin (one JSON
// line: { kind: 'tessera' | 'direct', seconds, callers? }), runs its callers for that long and prints one JSON line
// with every call's latency and the CPU time this process used.
//
//   tessera: POST /invoke/<id> to the node over HTTPS, mutual TLS and the user's bearer token.
//   direct:  POST /call straight to the function processes' unix sockets, with Fn-Call-Id and Fn-Deadline
//            as Fn's agent sends them; caller i uses socket i mod N, so the callers spread evenly.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';

export interface LoadConfig {
  callers: number;
  /** The node's HTTPS port and the function's id. */
  port: number;
  fnId: string;
  ca: string;
  cert: string;
  key: string;
  token: string;
  /** The function's hot processes' sockets (lsnr.sock on the host). */
  sockets: string[];
  /** 'tessera' callers speak plain HTTP (for experiments against a front end without TLS). */
  plain?: boolean;
}

export interface LoadCommand {
  kind: 'tessera' | 'direct';
  seconds: number;
  /** Run only the first this many callers (all by default). */
  callers?: number;
}

export interface LoadResult {
  kind: 'tessera' | 'direct';
  calls: number;
  seconds: number;
  /** Every call's latency, ms, in completion order. */
  latencies: number[];
  /** CPU time of this process over the round, ms (user + system). */
  cpu_ms: number;
}

const config = JSON.parse(process.argv[2]) as LoadConfig;
const body = Buffer.from('{"n":1}');

type Call = (n: number) => Promise<void>;

/** Reads a response to the end; anything but a 200 stops the run. */
const finish = (what: string, resolve: () => void, reject: (err: Error) => void) => (res: import('node:http').IncomingMessage) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${what}: ${res.statusCode} ${Buffer.concat(chunks).toString()}`))));
  res.on('error', reject);
};

function tesseraCaller(): Call {
  const agent = config.plain ? new HttpAgent({ keepAlive: true, maxSockets: 1 }) : new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: config.ca, cert: config.cert, key: config.key });
  const send = config.plain ? httpRequest : httpsRequest;
  const headers = { authorization: `Bearer ${config.token}`, 'content-type': 'application/json', 'content-length': body.length };
  return () =>
    new Promise<void>((resolve, reject) => {
      const req = send({ host: '127.0.0.1', port: config.port, servername: 'localhost', path: `/invoke/${config.fnId}`, method: 'POST', agent, headers }, finish('POST /invoke', resolve, reject));
      req.on('error', reject);
      req.end(body);
    });
}

function directCaller(i: number): Call {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const socketPath = config.sockets[i % config.sockets.length];
  return (n) =>
    new Promise<void>((resolve, reject) => {
      const headers = {
        host: 'localhost',
        'content-type': 'application/json',
        'content-length': body.length,
        'Fn-Call-Id': `bench${i}x${n}`,
        'Fn-Deadline': new Date(Date.now() + 30_000).toISOString().replace(/\.\d+Z$/, 'Z'),
      };
      const req = httpRequest({ socketPath, path: '/call', method: 'POST', agent, headers }, finish('POST /call', resolve, reject));
      req.on('error', reject);
      req.end(body);
    });
}

const callers = {
  tessera: Array.from({ length: config.callers }, () => tesseraCaller()),
  direct: Array.from({ length: config.callers }, (_, i) => directCaller(i)),
};

async function run(cmd: LoadCommand): Promise<LoadResult> {
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const end = started + cmd.seconds * 1000;
  await Promise.all(
    callers[cmd.kind].slice(0, cmd.callers ?? config.callers).map(async (call) => {
      let n = 0;
      while (performance.now() < end) {
        const t0 = performance.now();
        await call(n++);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { kind: cmd.kind, calls: latencies.length, seconds, latencies, cpu_ms: (cpu.user + cpu.system) / 1000 };
}

// One command at a time, in order.
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    const result = await run(JSON.parse(line) as LoadCommand);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });
  queue.catch((err) => {
    process.stderr.write(`fn-load: ${(err as Error).message}\n`);
    process.exit(1);
  });
}).on('close', () => void queue.then(() => process.exit(0)));
