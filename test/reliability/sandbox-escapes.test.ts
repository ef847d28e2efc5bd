// Known isolate-escape and resource-abuse patterns, each tried against the JS engine (fresh and pooled
// contexts) and the WASM engine. None may reach the node, change it, or stop it serving; and a node's
// other tenants keep their latency while one abuses its sandbox. The count of patterns is reported.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FreshPools, JsEngine } from '../../src/sandbox/js/engine.js';
import { WasmEngine } from '../../src/sandbox/wasm/engine.js';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { member } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';
import { wat } from '../helpers/wat.js';

const engine = new JsEngine();
const pools = new FreshPools();
after(() => pools.close());
const limits = { cpuMs: 500, heapMiB: 32 };
let hostCalls = 0;
const host = { hostEcho: (x: unknown) => (hostCalls++, x), hostThrow: () => { throw new TypeError('host says no'); } };
/** Runs `main` in both kinds of JS sandbox the node uses; both must agree. */
async function both(source: string): Promise<unknown[]> {
  const job = { modules: { '/main.js': source }, entry: '/main.js', exportName: 'main', host, prelude: 'globalThis.hostEcho = hostEcho; globalThis.hostThrow = hostThrow;', limits };
  return Promise.all([engine.run(job), engine.runFresh(pools, source, job)].map((p) => p.then((v) => ({ ok: v }), (e: Error & { code?: string }) => ({ err: e.code, message: e.message }))));
}

const hostPrepareStackTrace = (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
/** What a successful escape would change in this process. */
const untouched = () => {
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype of the host is untouched');
  assert.equal((globalThis as Record<string, unknown>).escaped, undefined, 'no global of the host was set');
  assert.equal((Error as { prepareStackTrace?: unknown }).prepareStackTrace, hostPrepareStackTrace, "the host's Error.prepareStackTrace is untouched");
  assert.deepEqual([3, 1, 2].sort(), [1, 2, 3], 'Array.prototype of the host is untouched');
};

const JS_PATTERNS: Array<{ name: string; source: string; expect: (results: any[]) => void }> = [
  {
    name: 'constructor.constructor reaches only the sandbox Function',
    source: `export function main() { const F = (() => {}).constructor.constructor; return [F('return typeof process')(), F('return typeof require')(), F('return typeof globalThis.process')()]; }`,
    expect: (r) => r.forEach((x) => assert.deepEqual(x, { ok: ['undefined', 'undefined', 'undefined'] })),
  },
  {
    name: 'prototype pollution of host objects: arguments, results and host functions are copies',
    source: `export function main() {
      Object.prototype.polluted = 'yes'; Array.prototype.sort = () => 'hijacked';
      const echoed = hostEcho({ a: 1 });
      try { Object.getPrototypeOf(echoed).polluted2 = 'yes'; hostEcho.__proto__.escaped = 1; hostEcho.constructor('globalThis.escaped = 1')(); } catch (e) {}
      return echoed.constructor.constructor('return typeof process')(); }`,
    expect: (r) => r.forEach((x) => assert.deepEqual(x, { ok: 'undefined' })),
  },
  {
    name: 'Error.prepareStackTrace sees only sandbox frames, even for a host error',
    source: `export function main() {
      const seen = [];
      Error.prepareStackTrace = (e, frames) => { for (const f of frames) { try { seen.push(typeof f.getThis(), String(f.getFileName()), typeof f.getFunction()); } catch (x) { seen.push('threw'); } } return 'x'; };
      try { hostThrow(); } catch (e) { void e.stack; seen.push(String(e.message), typeof e.constructor.constructor('return typeof process')); }
      return seen.filter((s) => /node:|internal\\/|process|require/.test(s)).concat(seen.slice(-2)); }`,
    expect: (r) => r.forEach((x) => assert.deepEqual(x.ok?.slice(0, -2) ?? x, [], JSON.stringify(x))),
  },
  {
    name: 'SharedArrayBuffer and Atomics: shared memory is refused at the host boundary, and Atomics.wait is stopped at the time limit',
    source: `export function main() {
      if (typeof SharedArrayBuffer === 'undefined') return 'no SharedArrayBuffer';
      const sab = new SharedArrayBuffer(8); new Int32Array(sab)[0] = 7;
      let shared = 'copied';
      try { const back = hostEcho({ deep: [new Int32Array(sab)] }); shared = 'accepted'; } catch (e) { shared = /shared memory/.test(e.message) ? 'refused' : String(e); }
      if (shared !== 'refused') return shared;
      Atomics.wait(new Int32Array(sab), 1, 0);
      return 'woke'; }`,
    expect: (r) => r.forEach((x) => assert.ok(x.ok === 'no SharedArrayBuffer' || x.err === 'timeout', JSON.stringify(x))),
  },
  { name: 'an infinite loop is stopped at the time limit', source: 'export function main() { for (;;) {} }', expect: (r) => r.forEach((x) => assert.equal(x.err, 'timeout')) },
  {
    name: 'a microtask flood is stopped at the time limit',
    source: 'export async function main() { const flood = () => Promise.resolve().then(flood); flood(); await new Promise(() => {}); }',
    expect: (r) => r.forEach((x) => assert.ok(x.err === 'timeout' || x.err === 'too_large', JSON.stringify(x))),
  },
  { name: 'deep recursion is a clean stack overflow', source: 'const f = (n) => f(n + 1) + 1; export function main() { return f(0); }', expect: (r) => r.forEach((x) => assert.match(x.message, /overflowed its stack/)) },
  { name: 'a huge ArrayBuffer is refused', source: 'export function main() { return new ArrayBuffer(2 ** 32).byteLength; }', expect: (r) => r.forEach((x) => assert.ok(x.err, JSON.stringify(x))) },
  {
    name: 'a heap that keeps growing is stopped at the heap limit',
    source: 'export function main() { const keep = []; for (;;) keep.push(new Array(1e5).fill(Math.random())); }',
    expect: (r) => r.forEach((x) => assert.ok(x.err === 'too_large' || x.err === 'timeout', JSON.stringify(x))),
  },
  {
    name: 'string doubling is stopped',
    source: "export function main() { let s = 'x'; for (;;) s += s; }",
    expect: (r) => r.forEach((x) => assert.ok(x.err, JSON.stringify(x))),
  },
  {
    name: 'a host function that floods back with calls is stopped at the time limit',
    source: 'export function main() { for (;;) hostEcho({ big: new Array(100).fill(1) }); }',
    expect: (r) => r.forEach((x) => assert.ok(x.err === 'timeout' || x.err === 'too_large', JSON.stringify(x))),
  },
];

const WASM = wat(`(module
  (import "env" "ping" (func $ping (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "grow") (result i32) (local $n i32) (loop $l (local.set $n (memory.grow (i32.const 1))) (br_if $l (i32.ne (local.get $n) (i32.const -1)))) (memory.size))
  (func (export "hammer") (loop $l (drop (call $ping (i32.const 1))) (br $l)))
  (func (export "spin") (loop $l (br $l))))`);
const wasmEngine = new WasmEngine();
const wasmRun = (fn: string): Promise<{ ok?: unknown; err?: string; message?: string }> =>
  wasmEngine.run({ module: WASM, glue: `function imports() { return { env: { ping: (x) => ping(x) } }; } function run(instance) { return instance.exports.${fn}(); }`, host: { ping: (x: number) => (hostCalls++, x) }, limits: { cpuMs: 500, memoryPages: 64 } }).then((v) => ({ ok: v }), (e: Error & { code?: string }) => ({ err: e.code, message: e.message }));

describe('escape and abuse patterns', () => {
  for (const p of JS_PATTERNS) {
    test(`JS: ${p.name}`, async () => {
      p.expect(await both(p.source));
      untouched();
      assert.deepEqual(await both('export function main() { return "alive"; }'), [{ ok: 'alive' }, { ok: 'alive' }]);
    });
  }
  test('WASM: memory growth stops at the page cap, inside the module', async () => {
    assert.deepEqual(await wasmRun('grow'), { ok: 64 });
  });
  test('WASM: a guest that hammers a host import is stopped at the time limit', async () => {
    const before = hostCalls;
    const stopped = await wasmRun('hammer');
    // Stopped either way: at the time limit, or at the heap limit if the copies outpace the collector.
    assert.ok(stopped.err === 'timeout' || stopped.err === 'too_large', JSON.stringify(stopped));
    assert.ok(hostCalls - before > 1000, `${hostCalls - before} host calls were made and the host survived them`);
  });
  test('WASM: a spinning guest is stopped at the time limit', async () => {
    assert.equal((await wasmRun('spin')).err, 'timeout');
    untouched();
  });
  after(() => process.stdout.write(`# sandbox patterns tried: ${JS_PATTERNS.length} JS (each in a fresh isolate and a pooled context), 3 WASM\n`));
});

describe('other tenants while one abuses its sandbox', () => {
  let node: TestNode;
  before(async () => {
    node = await startNode({ users: ['alice', 'bob'], members: ['m0', 'm1'], config: (c) => ((c.log.level = 'warn'), (c.app = { max_execution_time_ms: 400 })) });
    const endpoint = (fn: string) => ({ js_module: 'app.js', js_function: fn, forwarding_required: 'never', authn_policies: ['user_cert'], mode: 'readonly' });
    const APP = 'export function spin() { for (;;) {} }\nexport function hog() { const k = []; for (;;) k.push(new Array(1e5).fill(1)); }\nexport function hello() { return { body: "hi" }; }';
    const bundle = { metadata: { endpoints: { '/spin': { get: endpoint('spin') }, '/hog': { get: endpoint('hog') }, '/hello': { get: endpoint('hello') } } }, modules: [{ name: 'app.js', module: APP }] };
    const [m0, m1] = [member(node, 'm0'), member(node, 'm1')];
    const p = (await m0.propose({ actions: [{ name: 'set_js_app', args: { bundle } }] })).json();
    await m0.vote(p.proposalId, ACCEPT_BALLOT);
    await m1.vote(p.proposalId, ACCEPT_BALLOT);
  });
  after(() => node?.cleanup());

  test("bob's requests stay within a bound while alice's requests spin and exhaust their heaps", async () => {
    const as = (user: string) => ({ ...node.identity(user), ca: node.ca });
    const hello = async () => {
      const t0 = performance.now();
      const r = await https(`https://127.0.0.1:${node.ports.https}/app/hello`, as('bob'));
      assert.equal(r.status, 200, `bob got ${r.status}: ${r.body.toString()}\n${node.logs().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-5).join('\n')}`);
      return performance.now() - t0;
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const quiet: number[] = [];
    for (let i = 0; i < 15; i++) quiet.push(await hello());
    let abusing = true;
    const abuse = Promise.all(
      ['/app/spin', '/app/hog', '/app/spin'].map(async (path) => {
        let refused = 0;
        while (abusing) refused += (await https(`https://127.0.0.1:${node.ports.https}${path}`, as('alice'))).status === 500 ? 1 : 0;
        return refused;
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    const loud: number[] = [];
    for (let i = 0; i < 15; i++) loud.push(await hello());
    abusing = false;
    const refused = (await abuse).reduce((a, b) => a + b, 0);
    assert.ok(refused >= 3, `alice's abusive requests were stopped with 500s (${refused})`);
    // The bound: under the abusive handlers' own 400 ms limit, whatever this machine's speed.
    process.stdout.write(`# bob's median latency: ${median(quiet).toFixed(1)} ms alone, ${median(loud).toFixed(1)} ms while alice abused\n`);
    assert.ok(median(loud) < 400, `bob's median latency under abuse was ${median(loud).toFixed(1)} ms`);
  });
});
