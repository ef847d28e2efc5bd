// A real peer for the app runtime (issue 17, "Speed"): the same constant-JSON handler served by workerd,
// Cloudflare's open-source Workers runtime (npm package `workerd`, its binary from the registry's
// @cloudflare/workerd-linux-64), and by a Tessera app endpoint, with a fresh interpreter and with
// `interpreter_reuse`; plus a Tessera KV read. Both servers are children of this process, in the same run,
// over HTTPS with mutual TLS and keep-alive, driven by the same client loop, alternating rounds.
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate } from '../src/crypto/certificates.js';
import { type TestNode, REPO, startNode, tempDir } from '../test/helpers/cli.js';
import { KV_HANDLERS, benchEndpoint, deployBenchApp } from './kv-app.js';
import { median, percentile } from './stats.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
/** Seconds each side is measured for, per target and round. */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

// The same body as bench/workerd/worker.js returns, beside the KV handlers.
const APP = `
export function constant() {
  return { body: { msg: 'hello', n: 42 } };
}
${KV_HANDLERS}`;

const deploy = (node: TestNode) =>
  deployBenchApp(
    node,
    {
      '/constant/fresh': { get: benchEndpoint('constant', 'readonly', null) },
      '/constant/reuse': { get: benchEndpoint('constant', 'readonly', 'constant') },
      '/kv/reuse/{key}': { get: benchEndpoint('read', 'readonly', 'kv'), put: benchEndpoint('write', 'readwrite', 'kv') },
      '/kv/fresh/{key}': { get: benchEndpoint('read', 'readonly', null) },
    },
    APP,
  );

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/**
 * Starts workerd on a fresh port with bench/workerd/config.capnp, clients of `clientCa` admitted, and
 * resolves once it has answered a request made with `clientCert`/`clientKey` over TLS.
 */
async function startWorkerd(client: { ca: string; cert: string; key: string }): Promise<{ proc: ChildProcess; port: number; agent: Agent; version: string }> {
  const require = createRequire(import.meta.url);
  const workerd = require('workerd') as { default: string; version: string };
  const dir = tempDir('tessera-bench-workerd-');
  const source = join(REPO, 'bench', 'workerd');
  for (const f of ['config.capnp', 'worker.js']) copyFileSync(join(source, f), join(dir, f));
  // workerd's own certificate: a CA of the bench's and a P-256 leaf for localhost, the key type of the node's.
  const ca = await createCertificateAuthority('bench workerd CA', 1);
  const leaf = await issueCertificate(ca, { name: 'localhost', role: 'service', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1 });
  writeFileSync(join(dir, 'cert.pem'), leaf.certPem);
  writeFileSync(join(dir, 'key.pem'), leaf.keyPem);
  writeFileSync(join(dir, 'client-ca.pem'), client.ca);
  const port = await freePort();
  const proc = spawn(workerd.default, ['serve', join(dir, 'config.capnp'), '--socket-addr', `https=127.0.0.1:${port}`], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let exit: string | null = null;
  proc.on('exit', (code, signal) => (exit = `workerd exited (${code ?? signal}): ${stderr}`));
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, cert: client.cert, key: client.key, ca: ca.certPem });
  const probe = () =>
    new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent, servername: 'localhost' }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
      req.end();
    });
  // workerd prints nothing when it listens: ask until it answers (bounded: 100 tries, 100 ms apart).
  for (let i = 0; i < 100; i++) {
    if (exit) throw new Error(exit);
    if (await probe()) return { proc, port, agent, version: workerd.version };
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGTERM');
  throw new Error(`workerd did not answer within 10 s: ${stderr}`);
}

interface Target {
  port: number;
  path: (key: string) => string;
  agent: Agent;
}

interface Sample {
  perSecond: number;
  p50: number;
  p99: number;
}

/**
 * Runs CONNECTIONS request loops against `target` for `seconds` (or until `requests` are done, for the
 * warm-ups) and counts what completed. A window of time, not a count: workerd answers a fixed count so fast
 * that one scheduling hiccup on a shared machine would decide its figure.
 */
async function measure(target: Target, method: 'GET' | 'PUT', bound: { seconds?: number; requests?: number } = { seconds: SECONDS }): Promise<Sample> {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + (bound.seconds ?? Infinity) * 1000;
  const limit = bound.requests ?? 10_000_000; // bounded in count as well as time
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < limit && performance.now() < deadline) {
        const i = next++;
        const key = `k${i % 50}`;
        const t0 = performance.now();
        await new Promise<void>((resolve, reject) => {
          const body = method === 'PUT' ? Buffer.from(`value ${i}`) : undefined;
          const req = request({ host: '127.0.0.1', port: target.port, path: target.path(key), method, agent: target.agent, servername: 'localhost', headers: body ? { 'content-length': body.length } : {} }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => (res.statusCode! < 300 ? resolve() : reject(new Error(`${method} ${target.path(key)}: ${res.statusCode} ${Buffer.concat(chunks).toString()}`))));
          });
          req.on('error', reject);
          req.end(body);
        });
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { perSecond: latencies.length / ((performance.now() - started) / 1000), p50: median(latencies), p99: percentile(latencies, 99) };
}

async function main() {
  const node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'], config: (c) => (c.log.level = 'warn') });
  let workerd: Awaited<ReturnType<typeof startWorkerd>> | undefined;
  try {
    await deploy(node);
    const alice = node.identity('alice');
    workerd = await startWorkerd({ ca: node.ca, cert: alice.cert, key: alice.key });
    const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, cert: alice.cert, key: alice.key, ca: node.ca });
    const tessera = (path: (k: string) => string): Target => ({ port: node.ports.https, path, agent });
    const peer: Target = { port: workerd.port, path: () => '/', agent: workerd.agent };
    const targets = {
      interpreter_reuse: tessera(() => '/app/constant/reuse'),
      fresh_interpreter: tessera(() => '/app/constant/fresh'),
      kv_read_interpreter_reuse: tessera((k) => `/app/kv/reuse/${k}`),
      kv_read_fresh_interpreter: tessera((k) => `/app/kv/fresh/${k}`),
    };
    // Warm-up for each, and the keys exist for the reads.
    await measure(tessera((k) => `/app/kv/reuse/${k}`), 'PUT', { requests: 200 });
    for (const t of [peer, ...Object.values(targets)]) await measure(t, 'GET', { requests: 400 });
    const results: Record<string, { tessera: Sample[]; workerd: Sample[] }> = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const [kind, target] of Object.entries(targets)) {
        results[kind] ??= { tessera: [], workerd: [] };
        results[kind].workerd.push(await measure(peer, 'GET'));
        results[kind].tessera.push(await measure(target, 'GET'));
      }
      process.stderr.write(`  round ${r + 1}/${ROUNDS}: ${Object.entries(results).map(([k, v]) => `${k} ${v.tessera[r].perSecond.toFixed(0)}/${v.workerd[r].perSecond.toFixed(0)}`).join(', ')} req/s (Tessera/workerd)\n`);
    }
    const at = (xs: Sample[], k: keyof Sample, digits = 2) => Number(median(xs.map((x) => x[k])).toFixed(digits));
    const summary = Object.fromEntries(
      Object.entries(results).map(([kind, v]) => [
        kind,
        {
          tessera_req_per_s: Math.round(at(v.tessera, 'perSecond')),
          workerd_req_per_s: Math.round(at(v.workerd, 'perSecond')),
          ratio_vs_workerd: Number((at(v.tessera, 'perSecond') / at(v.workerd, 'perSecond')).toFixed(3)),
          tessera_p50_ms: at(v.tessera, 'p50'),
          tessera_p99_ms: at(v.tessera, 'p99'),
          workerd_p50_ms: at(v.workerd, 'p50'),
          workerd_p99_ms: at(v.workerd, 'p99'),
        },
      ]),
    );
    console.log(JSON.stringify({ benchmark: 'CCF app endpoints vs workerd, constant JSON over HTTPS (mutual TLS, keep-alive)', workerd_version: workerd.version, connections: CONNECTIONS, seconds_per_measure: SECONDS, rounds: ROUNDS, ...summary }, null, 2));
    agent.destroy();
    workerd.agent.destroy();
  } finally {
    workerd?.proc.kill('SIGTERM');
    await node.stop(); // gracefully, so that TESSERA_NODE_ARGS=--cpu-prof can write its profile
    await node.cleanup();
  }
}

await main();
