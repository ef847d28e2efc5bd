// EDGELESS-style compute-heavy instances (its matrix_mul example spends 6-10 s of pure compute per
// event) must not stall anybody else: while ten instances of one tenant's workflow each compute for
// TESSERA_HEAVY_SECONDS (10 by default; `npm run test:long` uses 60) another tenant's 1 s timer keeps its
// period and a third user's REST requests keep answering; every heavy event finishes, none is restarted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';
import { HTTP_REPLY, ingress, jsFunction } from '../helpers/workflows.js';

const HEAVY_SECONDS = Number(process.env.TESSERA_HEAVY_SECONDS ?? 10);
const HEAVY_INSTANCES = 10;

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob', 'carol'], config: (c) => ((c.log.level = 'warn'), (c.workflows = { max_event_timeout_ms: 0, call_timeout_ms: 2000 })) });
});
after(() => node.cleanup());

const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
const as = (user: string) => ({ ...node.identity(user), ca: node.ca });
const heavyOnly = (functions: Array<{ name: string; events: number; restarts: number }>) => functions.filter((f) => f.name !== 'front');
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];

/** Multiplies 200x200 matrices until `seconds` have passed: pure compute, as matrix_mul does. */
const HEAVY = `
let done = 0;
export function handle_cast(src, msg) {
  const n = 200, a = new Float64Array(n * n).fill(1.5), b = new Float64Array(n * n).fill(2), c = new Float64Array(n * n);
  const until = Date.now() + ${HEAVY_SECONDS * 1000};
  let rounds = 0;
  while (Date.now() < until) {
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) { const x = a[i * n + k]; for (let j = 0; j < n; j++) c[i * n + j] += x * b[k * n + j]; }
    rounds++;
  }
  done++;
  edgeless.sync(String(done));
  edgeless.telemetry_log(3, 'heavy', 'multiplied ' + rounds + ' times');
}`;

const TIMER = `${HTTP_REPLY}
const ticks = [];
export function handle_init() { edgeless.delayed_cast(1000, 'self', 'tick'); }
export function handle_cast(src, msg) { ticks.push(Date.now()); edgeless.delayed_cast(1000, 'self', 'tick'); }
export function handle_call(src, msg) { return reply(200, JSON.stringify(ticks)); }`;

test(`${HEAVY_INSTANCES} instances computing ${HEAVY_SECONDS} s per event stall neither another tenant's timer nor another user's REST requests`, async () => {
  const alice = as('alice');
  const bob = as('bob');
  const carol = as('carol');
  const timer = await https(url('/v1/workflows'), bob, { method: 'POST', json: { name: 'timer', spec: { functions: [jsFunction('timer', TIMER)], resources: [ingress('timer', { host: '127.0.0.1', method: 'GET' })] } } });
  assert.equal(timer.status, 201, timer.body.toString());
  const heavyFns = Array.from({ length: HEAVY_INSTANCES }, (_, i) => jsFunction(`m${i}`, HEAVY, {}, { 'event-timeout-ms': 'none' }));
  const outputs = Object.fromEntries(heavyFns.map((f) => [f.name, f.name]));
  const front = jsFunction('front', `export function handle_cast(src, msg) { for (const name of ${JSON.stringify(Object.keys(outputs))}) edgeless.cast(name, msg); }`, outputs);
  const heavySpec = { functions: [front, ...heavyFns], resources: [ingress('front', { method: 'POST', async: 'true' })] };
  const heavy = await https(url('/v1/workflows'), alice, { method: 'POST', json: { name: 'matrix', spec: heavySpec } });
  assert.equal(heavy.status, 201, heavy.body.toString());
  const heavyId = heavy.json().workflow_id;

  // Ticks before the load starts are not counted.
  await new Promise((r) => setTimeout(r, 1500));
  const loadStarted = Date.now();
  // One asynchronous http-ingress request: the front instance casts it to every heavy instance.
  const go = await https(url('/ingress/go'), alice, { method: 'POST', body: Buffer.from('go') });
  assert.equal(go.status, 200, go.body.toString());

  // Carol polls the REST API every 50 ms for the whole time the heavy events run.
  const latencies: number[] = [];
  let finished = false;
  while (!finished) {
    const t = performance.now();
    const r = await https(url('/v1/workflows'), carol);
    latencies.push(performance.now() - t);
    assert.equal(r.status, 200);
    if (latencies.length % 10 === 0) {
      const functions = heavyOnly((await https(url(`/v1/workflows/${heavyId}`), alice)).json().functions);
      assert.ok(functions.every((f) => f.restarts === 0), `no heavy instance is restarted: ${JSON.stringify(functions)}`);
      finished = functions.every((f) => f.events === 1);
      assert.ok(Date.now() - loadStarted < HEAVY_SECONDS * 1000 * 4 + 30_000, 'the heavy events finish');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const loadEnded = Date.now();

  const ticks = (await https(url('/ingress/ticks'), bob)).json() as number[];
  const during = ticks.filter((t) => t >= loadStarted && t <= loadEnded);
  const periods = during.slice(1).map((t, i) => t - during[i]);
  const p99 = percentile(latencies, 99);
  process.stdout.write(`# heavy: ${HEAVY_INSTANCES} x ${HEAVY_SECONDS} s events finished in ${((loadEnded - loadStarted) / 1000).toFixed(1)} s; timer periods ${Math.min(...periods)}-${Math.max(...periods)} ms over ${periods.length} ticks; REST p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms over ${latencies.length} requests\n`);
  assert.ok(periods.length >= Math.floor(HEAVY_SECONDS) - 2, `the timer kept ticking during the load (${periods.length} periods)`);
  // The bounds (period within 100 ms, p99 under 100 ms) hold on a quiet machine and are asserted
  // by `npm run test:long` (TESSERA_STRICT_TIMING=1). In `npm test`, which shares two cores with other
  // suites, the bound is what separates "kept serving" from "stalled" (before the fix: 11-19 s).
  const bound = process.env.TESSERA_STRICT_TIMING === '1' ? 100 : 1000;
  for (const p of periods) assert.ok(Math.abs(p - 1000) <= bound, `every timer period stays within ${bound} ms of 1 s: ${periods.join(', ')}`);
  assert.ok(p99 < bound, `REST p99 stays under ${bound} ms while the heavy events run (${p99.toFixed(1)} ms)`);

  const stored = heavyOnly((await https(url(`/v1/workflows/${heavyId}`), alice)).json().functions);
  assert.deepEqual(stored.map((f) => [f.events, f.restarts]), Array.from({ length: HEAVY_INSTANCES }, () => [1, 0]), 'every heavy event finished, none restarted');
  const stopped = Date.now();
  assert.equal((await https(url(`/v1/workflows/${heavyId}`), alice, { method: 'DELETE' })).status, 200);
  assert.ok(Date.now() - stopped < 2000, 'stopping the workflow does not wait for its events');
});

test('a restored workflow whose init computes for seconds does not hold up the restarted node', async () => {
  const alice = as('alice');
  const SLOW_INIT = `export function handle_init() { const until = Date.now() + 6000; let x = 0; while (Date.now() < until) x += Math.sqrt(x + 1); edgeless.sync('initialised'); }
export function handle_cast() {}`;
  const started = await https(url('/v1/workflows'), alice, { method: 'POST', json: { name: 'slow-init', spec: { functions: [jsFunction('slow', SLOW_INIT, {}, { 'event-timeout-ms': 'none' })], resources: [] } } });
  assert.equal(started.status, 201, started.body.toString());
  const restartedAt = performance.now();
  await node.restart();
  const ready = performance.now() - restartedAt;
  const t = performance.now();
  const r = await https(url('/v1/workflows'), as('carol'));
  const first = performance.now() - t;
  assert.equal(r.status, 200);
  process.stdout.write(`# restart with a 6 s init pending: ready after ${ready.toFixed(0)} ms, first request ${first.toFixed(1)} ms\n`);
  const list = (await https(url('/v1/workflows'), alice)).json().workflows as Array<{ workflow_id: string; name: string }>;
  const id = list.find((w) => w.name === 'slow-init')!.workflow_id;
  const [slow] = (await https(url(`/v1/workflows/${id}`), alice)).json().functions as Array<{ busy: boolean }>;
  assert.ok(!slow || slow.busy, 'the node was ready, and answered, while the restored instance was still in its handle_init');
  assert.equal((await https(url(`/v1/workflows/${id}`), alice, { method: 'DELETE' })).status, 200);
});
