// Workflow benchmark: a 5-function call chain (mean and p99 latency) and events per second between two
// instances ping-ponging casts, on Tessera's dataplane, next to the same logic as plain in-process
// JavaScript functions (no isolates, no dispatcher) run in the same process at the same time.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { SqliteStore } from '../src/store/sqlite.js';
import { WorkflowRuntime } from '../src/workflows/runtime.js';
import { tempDir } from '../test/helpers/cli.js';
import { mean, percentile } from './stats.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 20000);

const dir = tempDir('tessera-bench-wf-');
const store = new SqliteStore(join(dir, 'store.sqlite'));
const runtime = new WorkflowRuntime({ store, logger: pino({ level: 'silent' }), limits: { heapMiB: 64, eventMs: 10000 }, callTimeoutMs: 5000, maxRestartsPerMinute: 5, threads: 2 });

const js = (source: string) => Buffer.from(source);

async function chain() {
  const wf = 'chain';
  const ids = await Promise.all([1, 2, 3, 4, 5].map((i) =>
    runtime.spawn({ workflowId: wf, name: `f${i}`, kind: 'js', initPayload: null, stateKey: null, code: js(i < 5 ? `export function handle_call(src, msg) { const r = edgeless.call('next', msg + '${i}'); return r.data; }` : 'export function handle_call(src, msg) { return msg + "5"; }') }),
  ));
  ids.forEach((id, i) => runtime.patch(id, i < 4 ? { next: `f${i + 2}` } : {}));
  for (const id of ids) await runtime.init(id);
  for (let i = 0; i < 200; i++) await runtime.callTo(wf, 'f1', 'x'); // warm-up
  const tessera: number[] = [];
  const plain: number[] = [];
  const fns: Array<(m: string) => string> = [];
  for (let i = 4; i >= 0; i--) fns[i] = i < 4 ? (m) => fns[i + 1](m + String(i + 1)) : (m) => m + '5';
  for (let i = 0; i < CALLS; i++) {
    let t = performance.now();
    const r = await runtime.callTo(wf, 'f1', 'x');
    tessera.push(performance.now() - t);
    if (r.type !== 1 || Buffer.from(r.data!).toString() !== 'x12345') throw new Error('chain broke');
    t = performance.now();
    fns[0]('x');
    plain.push(performance.now() - t);
  }
  await runtime.stopWorkflow(wf);
  return { tessera, plain };
}

async function pingPong(): Promise<{ tessera: number; plain: number }> {
  const wf = 'events';
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  runtime.addResource(wf, 'done', { cast: () => finish(), call: () => ({ type: 0, data: null }) });
  const a = await runtime.spawn({ workflowId: wf, name: 'a', kind: 'js', initPayload: null, stateKey: null, code: js(`let n = 0; export function handle_cast(src, msg) { n++; if (n >= ${EVENTS / 2}) edgeless.cast('done', 'x'); else edgeless.cast('b', msg); }`) });
  const b = await runtime.spawn({ workflowId: wf, name: 'b', kind: 'js', initPayload: null, stateKey: null, code: js('export function handle_cast(src, msg) { edgeless.cast_raw(src, msg); }') });
  runtime.patch(a, { b: 'b', done: 'done' });
  await runtime.init(a);
  await runtime.init(b);
  const started = performance.now();
  runtime.castTo(wf, 'a', 'ball');
  await done;
  const tessera = EVENTS / ((performance.now() - started) / 1000);
  await runtime.stopWorkflow(wf);
  // The same exchange as plain functions and a microtask queue.
  let n = 0;
  const plainStarted = performance.now();
  await new Promise<void>((resolve) => {
    const queue: Array<() => void> = [];
    const A = (msg: string) => (++n >= EVENTS / 2 ? resolve() : queue.push(() => B(msg)));
    const B = (msg: string) => queue.push(() => A(msg));
    A('ball');
    while (queue.length) queue.shift()!();
  });
  return { tessera, plain: EVENTS / ((performance.now() - plainStarted) / 1000) };
}

const c = await chain();
const events = await pingPong();
console.log(
  JSON.stringify(
    {
      benchmark: 'EDGELESS workflows on Tessera',
      call_chain_5_functions: {
        calls: CALLS,
        tessera_p50_ms: Number(percentile(c.tessera, 50).toFixed(3)),
        tessera_mean_ms: Number(mean(c.tessera).toFixed(3)),
        tessera_p99_ms: Number(percentile(c.tessera, 99).toFixed(3)),
        plain_js_p50_ms: Number(percentile(c.plain, 50).toFixed(4)),
        plain_js_p99_ms: Number(percentile(c.plain, 99).toFixed(4)),
        plain_js_mean_ms: Number(mean(c.plain).toFixed(4)),
        edgeless_published_mean_ms: '15.2-19.9 (vector-mul-chain, 5 functions, edgeless_inabox)',
      },
      events_between_two_instances: {
        events: EVENTS,
        tessera_per_s: Math.round(events.tessera),
        plain_js_per_s: Math.round(events.plain),
        ratio_vs_plain: Number((events.tessera / events.plain).toFixed(4)),
      },
    },
    null,
    2,
  ),
);
store.close();
rmSync(dir, { recursive: true, force: true });
