// Slow clients (issue 16, finding 10 a–c): what a legitimate user gets while an attacker holds
// connections open, against what the same user gets from the same node with no attack, just before.
//
// The node runs with its default limits. A legitimate user, alice, makes sequential requests with her
// client certificate and bearer token, each on a fresh connection (a user arriving during the attack
// must get through admission, which a kept-alive connection would skip): GET /v1/files over HTTPS, or
// a TMS List over the tms_external wire listener. A request not answered within REQUEST_TIMEOUT_MS
// counts as failed. Each attack runs in a process of its own (bench/slow-attacker.ts) and reopens every
// connection the node closes:
//   10a: 520 TLS connections without a client certificate, from 4 addresses, each POSTing to a public
//        CCF app path with content-length: 1000000 and 1 body byte. Alice uses HTTPS.
//   10b: 1,100 TCP connections to tms_external that never start TLS, from one address; and again
//        spread over 5 addresses (220 each, under limits.max_connections_per_address). Alice uses the wire.
//   10c: 100 wire connections (bob's certificate) each dripping a frame 1 byte a second. Alice uses the wire.
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { type TestNode, startNode } from '../test/helpers/cli.js';
import { passProposal } from '../test/helpers/gov.js';
import { https } from '../test/helpers/https-client.js';
import { procStatusBytes } from '../test/helpers/proc.js';
import { frame } from '../test/helpers/wire-client.js';
import type { AttackConfig, AttackResult } from './slow-attacker.js';
import { median, percentile } from './stats.js';

/** How long alice's loop runs under each attack (and without one), seconds. */
const WINDOW_S = Number(process.env.BENCH_ATTACK_S ?? 15);
/** 10c's window: longer than wire.frame_timeout_ms (30 s by default), so that the deadline is seen. */
const DRIP_S = Number(process.env.BENCH_DRIP_S ?? 40);
/** Time the attack has to take hold before alice starts, seconds. */
const RAMP_S = 3;
/** How long to wait, at most, for the node to recover after an attack, seconds. */
const RECOVERY_S = 30;
/** One of alice's requests unanswered after this is a failure. */
const REQUEST_TIMEOUT_MS = Number(process.env.BENCH_REQUEST_TIMEOUT_MS ?? 5000);
const APP_PATH = '/app/slow';
/** BENCH_ATTACKS=10a,10c runs only those (ids: 10a, 10b, 10b-spread, 10c). */
const ONLY = (process.env.BENCH_ATTACKS ?? '').split(',').filter(Boolean);

const round = (x: number, digits = 2) => Number(x.toFixed(digits));

interface Phase {
  surface: 'https' | 'wire';
  seconds: number;
  attempted: number;
  served: number;
  failed: number;
  served_per_s: number;
  /** Why requests failed, by message. */
  failures: Record<string, number>;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

/** One request, on a fresh connection; resolves with its latency, or throws why it failed. */
type Once = () => Promise<number>;

function withDeadline(start: (fail: (err: Error) => void, done: () => void) => () => void): Promise<number> {
  const t0 = performance.now();
  return new Promise<number>((resolve, reject) => {
    let cleanup: () => void = () => undefined;
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`));
    }, REQUEST_TIMEOUT_MS);
    cleanup = start(
      (err) => {
        clearTimeout(timer);
        cleanup();
        reject(err);
      },
      () => {
        clearTimeout(timer);
        cleanup();
        resolve(performance.now() - t0);
      },
    );
  });
}

function httpsOnce(node: TestNode): Once {
  const id = node.identity('alice');
  return () =>
    withDeadline((fail, done) => {
      const req = request({ host: '127.0.0.1', port: node.ports.https, path: '/v1/files', agent: false, cert: id.cert, key: id.key, ca: node.ca, servername: 'localhost', headers: { authorization: `Bearer ${id.token}` } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? done() : fail(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', fail);
      });
      req.on('error', (err: NodeJS.ErrnoException) => fail(new Error(err.code ?? err.message)));
      req.end();
      return () => req.destroy();
    });
}

function wireOnce(node: TestNode): Once {
  const id = node.identity('alice');
  const list = frame(Buffer.from(JSON.stringify({ type: 'List', user_id: 'alice', user_token: id.token })));
  return () =>
    withDeadline((fail, done) => {
      let buffer = Buffer.alloc(0);
      const socket = tlsConnect({ host: '127.0.0.1', port: node.ports.tms_external, cert: id.cert, key: id.key, ca: node.ca, servername: 'localhost' }, () => socket.write(list));
      socket.on('data', (d: Buffer) => {
        buffer = Buffer.concat([buffer, d]);
        if (buffer.length < 8 || buffer.length < 8 + Number(buffer.readBigUInt64BE(0))) return;
        const reply = JSON.parse(buffer.subarray(8, 8 + Number(buffer.readBigUInt64BE(0))).toString());
        if (reply.type === 'List') done();
        else fail(new Error(`wire ${reply.kind ?? reply.type}`));
      });
      socket.on('error', (err: NodeJS.ErrnoException) => fail(new Error(err.code ?? err.message)));
      socket.on('close', () => fail(new Error('closed before a reply')));
      return () => socket.destroy();
    });
}

/** Alice's sequential requests for `seconds`. */
async function loop(surface: Phase['surface'], once: Once, seconds: number): Promise<Phase> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let attempted = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    attempted++;
    try {
      latencies.push(await once());
    } catch (err) {
      const why = (err as Error).message;
      failures[why] = (failures[why] ?? 0) + 1;
      // A refusal can come back at once: a short pause keeps the failure count about attempts a user
      // would make, not about how fast this loop spins.
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const took = (performance.now() - started) / 1000;
  const stat = (f: (xs: number[]) => number) => (latencies.length ? round(f(latencies)) : null);
  return {
    surface,
    seconds: round(took, 1),
    attempted,
    served: latencies.length,
    failed: attempted - latencies.length,
    served_per_s: round(latencies.length / took, 1),
    failures,
    p50_ms: stat(median),
    p99_ms: stat((xs) => percentile(xs, 99)),
    max_ms: stat((xs) => Math.max(...xs)),
  };
}

/**
 * The node, sampled every 250 ms until stopped: resident memory and open file descriptors (each
 * connection it has accepted and not closed is one) before and at peak, and the CPU it used meanwhile
 * (1.0 = one core busy the whole time).
 */
function nodeSampler(node: TestNode) {
  const pid = node.proc.pid!;
  const mib = () => round(procStatusBytes(pid, 'VmRSS') / 2 ** 20, 1);
  const fds = () => readdirSync(`/proc/${pid}/fd`).length;
  // utime and stime, in clock ticks (USER_HZ, 100 on Linux), fields 14 and 15 of /proc/<pid>/stat.
  const cpuS = () => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  const before = { rss: mib(), fds: fds(), cpu: cpuS(), at: performance.now() };
  let peakRss = before.rss;
  let peakFds = before.fds;
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, mib());
    peakFds = Math.max(peakFds, fds());
  }, 250);
  return () => {
    clearInterval(timer);
    return {
      rss_before_mib: before.rss,
      rss_peak_mib: peakRss,
      fds_before: before.fds,
      connections_held_peak: peakFds - before.fds,
      cpu_cores_busy: round((cpuS() - before.cpu) / ((performance.now() - before.at) / 1000)),
    };
  };
}

/**
 * After an attack: seconds until alice's first served request, and until the node holds no more than a
 * few connections beyond what it held before (checked every 100 ms, for at most RECOVERY_S).
 */
async function recovery(node: TestNode, once: Once, fdsBefore: number) {
  const started = performance.now();
  const since = () => round((performance.now() - started) / 1000, 1);
  const fds = () => readdirSync(`/proc/${node.proc.pid}/fd`).length;
  let served: number | null = null;
  let released: number | null = null;
  while (since() < RECOVERY_S && (served === null || released === null)) {
    if (served === null) served = await once().then(since, () => null);
    if (released === null && fds() <= fdsBefore + 5) released = since();
    await new Promise((r) => setTimeout(r, 100));
  }
  return { first_served_after_s: served, connections_released_after_s: released };
}

function startAttack(config: AttackConfig): { child: ChildProcess; result: Promise<AttackResult> } {
  const script = fileURLToPath(new URL('./slow-attacker.js', import.meta.url));
  const child = fork(script, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const result = new Promise<AttackResult>((resolve, reject) => {
    child.once('message', (m) => resolve(m as AttackResult));
    child.once('exit', (code) => reject(new Error(`the ${config.attack} attacker exited with ${code} before reporting`)));
  });
  return { child, result };
}

async function main() {
  const node = await startNode({ users: ['alice', 'bob'], members: ['m0', 'm1', 'm2'], config: (c) => (c.log.level = 'warn') });
  const bob = node.identity('bob');
  const overHttps = httpsOnce(node);
  const overWire = wireOnce(node);
  let attacker: ChildProcess | undefined;
  try {
    // A public app endpoint (no_auth) for 10a: what anonymous callers may reach.
    const module = 'export function slow(request) { return { body: "ok" }; }';
    const endpoint = { js_module: 's.js', js_function: 'slow', forwarding_required: 'never', authn_policies: ['no_auth'], mode: 'readwrite' };
    await passProposal(node, [{ name: 'set_js_app', args: { bundle: { metadata: { endpoints: { '/slow': { post: endpoint } } }, modules: [{ name: 's.js', module }] } } }]);
    const check = await https(`https://127.0.0.1:${node.ports.https}${APP_PATH}`, { ca: node.ca }, { method: 'POST', json: {} });
    if (check.status !== 200) throw new Error(`the public app endpoint answered ${check.status} ${check.body.toString()}`);

    await loop('https', overHttps, 2); // warm-up
    await loop('wire', overWire, 2);
    const measured = async (surface: Phase['surface'], once: Once) => {
      const sample = nodeSampler(node);
      const phase = await loop(surface, once, WINDOW_S);
      return { ...phase, node: sample() };
    };
    const baseline = { https: await measured('https', overHttps), wire: await measured('wire', overWire) };
    for (const [k, p] of Object.entries(baseline)) process.stderr.write(`  no attack, ${k}: ${p.served} served, ${p.failed} failed in ${p.seconds} s; p50 ${p.p50_ms} ms, p99 ${p.p99_ms} ms; node ${p.node.cpu_cores_busy} cores busy\n`);

    const attacks: Array<{ id: string; what: string; config: Omit<AttackConfig, 'seconds'>; window: number }> = [
      {
        id: '10a',
        what: `520 TLS connections without a client certificate from 4 addresses, each POST ${APP_PATH} with content-length: 1000000 and 1 body byte`,
        config: { attack: '10a', port: node.ports.https, connections: 520, addresses: ['127.0.3.1', '127.0.3.2', '127.0.3.3', '127.0.3.4'], ca: node.ca, path: APP_PATH },
        window: WINDOW_S,
      },
      {
        id: '10b',
        what: '1,100 TCP connections to tms_external that never start TLS, from one address, reopened as they close',
        config: { attack: '10b', port: node.ports.tms_external, connections: 1100, addresses: ['127.0.2.1'], ca: node.ca },
        window: WINDOW_S,
      },
      {
        id: '10b-spread',
        what: '1,100 TCP connections to tms_external that never start TLS, from 5 addresses (220 each), reopened as they close',
        config: { attack: '10b', port: node.ports.tms_external, connections: 1100, addresses: ['127.0.4.1', '127.0.4.2', '127.0.4.3', '127.0.4.4', '127.0.4.5'], ca: node.ca },
        window: WINDOW_S,
      },
      {
        id: '10c',
        what: '100 wire connections with a user certificate (bob), each sending a header declaring a 4 MiB frame, then 1 byte a second',
        config: { attack: '10c', port: node.ports.tms_external, connections: 100, addresses: ['127.0.0.1'], ca: node.ca, cert: bob.cert, key: bob.key, frameBytes: 4 * 1024 * 1024 },
        window: DRIP_S,
      },
    ];
    const results = [];
    for (const a of attacks.filter((x) => !ONLY.length || ONLY.includes(x.id))) {
      const sample = nodeSampler(node);
      const started = startAttack({ ...a.config, seconds: RAMP_S + a.window + 0.5 });
      attacker = started.child;
      await new Promise((r) => setTimeout(r, RAMP_S * 1000));
      const alice = await loop(a.config.attack === '10a' ? 'https' : 'wire', a.config.attack === '10a' ? overHttps : overWire, a.window);
      const attack = await started.result;
      attacker = undefined;
      const seen = sample();
      const base = alice.surface === 'https' ? baseline.https : baseline.wire;
      const ratio = round(alice.served_per_s / base.served_per_s, 3);
      process.stderr.write(
        `  ${a.id}: attacker ${attack.attempts} attempts, ${attack.opened} opened, ${attack.held_peak} held at peak, ${attack.closed_by_node} closed by the node (${attack.closed_at_once} at once; the others after ${attack.lifetime_ms ? `${attack.lifetime_ms.median} ms median, ${attack.lifetime_ms.max} ms max` : '—'}); replies ${JSON.stringify(attack.replies)}; alice ${alice.served} served, ${alice.failed} failed in ${alice.seconds} s (${ratio} of the rate without attack); p50 ${alice.p50_ms} ms, p99 ${alice.p99_ms} ms, failures ${JSON.stringify(alice.failures)}; node: ${seen.fds_before} fds before, ${seen.connections_held_peak} connections held at peak, RSS ${seen.rss_before_mib} → ${seen.rss_peak_mib} MiB, ${seen.cpu_cores_busy} cores busy\n`,
      );
      // Once the attacker has gone: how long until the user is served again, and the node has let go of
      // the attacker's connections (so that the next attack starts on a node as it was).
      const after = await recovery(node, alice.surface === 'https' ? overHttps : overWire, seen.fds_before);
      process.stderr.write(`  ${a.id}, after: alice served again after ${after.first_served_after_s} s; the node back to its connections of before after ${after.connections_released_after_s} s\n`);
      results.push({ id: a.id, what: a.what, attacker: attack, alice, served_per_s_ratio_vs_no_attack: ratio, node: seen, after });
    }
    console.log(
      JSON.stringify(
        {
          benchmark: 'a legitimate user during slow-client attacks (issue 16, finding 10 a–c), against the same user with no attack',
          cores: availableParallelism(),
          config: 'defaults: limits.max_requests_in_flight 512, limits.max_anonymous_requests_in_flight 32, limits.anonymous_request_timeout_ms 10000, limits.max_connections_per_address 256, wire.max_connections 1024, wire.handshake_timeout_ms 10000, wire.frame_timeout_ms 30000',
          alice: 'sequential requests, each on a fresh connection with her certificate and token: GET /v1/files over HTTPS, or TMS List over tms_external',
          request_timeout_ms: REQUEST_TIMEOUT_MS,
          ramp_s: RAMP_S,
          baseline,
          attacks: results,
        },
        null,
        2,
      ),
    );
  } finally {
    attacker?.kill('SIGKILL'); // by its pid: the attacker this run started
    await node.stop();
    await node.cleanup();
  }
}

await main();
