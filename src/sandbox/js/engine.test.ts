import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FreshPools, JsEngine } from './engine.js';

const engine = new JsEngine();
/** Tests call host functions as globals: this prelude hands them out (the engine never does). */
const exposing = (extra: { host?: object }) => Object.keys(extra.host ?? {}).map((n) => `globalThis.${n} = ${n};`).join('');
const run = (source: string, extra: Partial<Parameters<JsEngine['run']>[0]> = {}) =>
  engine.run({ modules: { '/main.js': source }, entry: '/main.js', exportName: 'main', prelude: exposing(extra), ...extra });

describe('modules', () => {
  test('relative imports resolve, and a module reached by two paths is one instance', async () => {
    const result = await engine.run({
      modules: {
        '/main.js': "import { count } from './lib/counter.js'; import { again } from './lib/other.js'; export function main(x) { count(); again(); return { calls: count(), x }; }",
        '/lib/counter.js': 'let n = 0; export function count() { return ++n; }',
        '/lib/other.js': "import { count } from '../lib/counter.js'; export function again() { return count(); }",
      },
      entry: 'main.js',
      exportName: 'main',
      args: [{ deep: [1, 2] }],
    });
    assert.deepEqual(result, { calls: 3, x: { deep: [1, 2] } });
  });

  test('async exports are awaited', async () => {
    assert.equal(await run('export async function main() { return await Promise.resolve(42); }'), 42);
  });

  test('missing modules are refused with the message CCF gives, naming the chain of importers', async () => {
    // CCF src/js/core/context.cpp: QuickJS's loader finds nothing and sets no exception, hence "null".
    await assert.rejects(run("import x from 'lodash'; export function main() {}"), { code: 'not_found', message: "Failed to resolve dependencies for module '/main.js': null" });
    await assert.rejects(run("import x from './nope.js'; export function main() {}"), { code: 'not_found', message: "Failed to resolve dependencies for module '/main.js': null" });
    await assert.rejects(
      engine.run({ modules: { '/main.js': "import './sub/a.js'; export function main() {}", '/sub/a.js': "import './b.js';", '/sub/b.js': "import '../gone.js';" }, entry: '/main.js', exportName: 'main' }),
      { message: "Failed to resolve dependencies for module '/main.js': ReferenceError: Failed to resolve dependencies for module 'sub/a.js': ReferenceError: Failed to resolve dependencies for module 'sub/b.js': null" },
    );
    await assert.rejects(run('export const main = 1;'), /has no exported function 'main'/);
  });

  test('specifiers resolve as QuickJS resolves them: bare names from the bundle root, ./ and ../ from the importer', async () => {
    const result = await engine.run({
      modules: { '/main.js': "import { a } from 'lib/a.js'; import { b } from '/lib/b.js'; export function main() { return a() + b(); }", '/lib/a.js': "import { b } from './b.js'; export const a = () => 'a' + b();", '/lib/b.js': "export const b = () => 'b';" },
      entry: '/main.js',
      exportName: 'main',
    });
    assert.equal(result, 'abb');
    // QuickJS normalises only the leading ./ and ../: '../' above the root is kept, and names no module.
    await assert.rejects(run("import '../main.js'; export function main() {}"), { message: "Failed to resolve dependencies for module '/main.js': null" });
  });

  test('a module cycle links and runs, each module once', async () => {
    const result = await engine.run({
      modules: { '/main.js': "import { ping, count } from './a.js'; export function main() { return [ping(3), count()]; }", '/a.js': "import { pong } from './b.js'; let n = 0; export const count = () => n; export function ping(k) { n++; return k === 0 ? 'done' : pong(k - 1); }", '/b.js': "import { ping } from './a.js'; export function pong(k) { return ping(k); }" },
      entry: '/main.js',
      exportName: 'main',
    });
    assert.deepEqual(result, ['done', 4]);
  });

  test('compile and evaluation failures name the module as CCF does', async () => {
    await assert.rejects(
      engine.run({ modules: { '/main.js': "import './bad.js'; export function main() {}", '/bad.js': 'export const = 1;' }, entry: '/main.js', exportName: 'main' }),
      { code: 'function_failed', message: /^Failed to resolve dependencies for module '\/main.js': ReferenceError: Failed to compile module 'bad.js': SyntaxError: / },
    );
    await assert.rejects(
      engine.run({ modules: { '/main.js': "import './boom.js'; export function main() {}", '/boom.js': "throw new TypeError('at load');" }, entry: '/main.js', exportName: 'main' }),
      { code: 'function_failed', message: "Failed to execute /main.js: TypeError: at load" },
    );
  });

  test('import() gives the same module instance as a static import, and loads only when called', async () => {
    const result = await engine.run({
      modules: {
        '/main.js': "import { C } from './sub/foo.js'; export async function main() { const before = globalThis.barLoaded === true; const { getC } = await import('./bar.js'); const again = await import(\n'./bar.js'); return [before, getC() instanceof C, again.getC === getC, 'import(not me)']; }",
        '/bar.js': "import { C } from './sub/foo.js'; globalThis.barLoaded = true; export function getC() { return new C(); }",
        '/sub/foo.js': 'export class C {}',
      },
      entry: '/main.js',
      exportName: 'main',
    });
    assert.deepEqual(result, [false, true, true, 'import(not me)']);
    await assert.rejects(run("export async function main() { await import('./nope.js'); }"), /Failed to resolve dependencies for module '\/main.js': null|could not load/);
  });

  test('the code cache is keyed by the source hash: the same code is compiled once', async () => {
    const source = `export function main() { return 'cached ${Math.random()}'; }`;
    const before = { ...engine.stats };
    await run(source);
    await run(source);
    await run(source);
    assert.equal(engine.stats.compiled - before.compiled, 1);
    assert.equal(engine.stats.codeCacheHits - before.codeCacheHits, 2);
  });
});

describe('isolation', () => {
  test('nothing of Node is reachable, only what the host grants', async () => {
    const probe = `export function main() {
      return [typeof process, typeof require, typeof setTimeout, typeof fetch, typeof Buffer, typeof module, typeof granted, granted(2)];
    }`;
    assert.deepEqual(await run(probe, { host: { granted: (n: number) => n * 21 } }), ['undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'function', 42]);
  });

  test('escapes through constructor.constructor and the prototype chain reach only the sandbox', async () => {
    const attempts = `export function main() {
      const out = [];
      const F = (() => {}).constructor.constructor;
      out.push(F('return typeof process')());
      out.push(F('try { return typeof this.process } catch (e) { return "threw" }')());
      out.push(({}).constructor.constructor('return typeof require')());
      out.push(Object.getPrototypeOf(async function () {}).constructor('return 1') instanceof Function);
      try { F('return process.mainModule')(); out.push('reached'); } catch (e) { out.push(e.name); }
      Object.prototype.polluted = 'yes';
      Array.prototype.map = () => 'hijacked';
      return out;
    }`;
    assert.deepEqual(await run(attempts), ['undefined', 'undefined', 'undefined', true, 'ReferenceError']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'the host prototype was not touched');
    assert.deepEqual([1, 2].map((x) => x * 2), [2, 4]);
  });

  test('a host function given hostile arguments fails cleanly', async () => {
    await assert.rejects(run('export function main() { return granted(() => 1); }', { host: { granted: (x: unknown) => typeof x } }), /could not be cloned|function/i);
  });

  test('each run gets a fresh context: globals do not leak between runs', async () => {
    await run('export function main() { globalThis.leak = 1; }');
    assert.equal(await run("export function main() { return typeof globalThis.leak; }"), 'undefined');
  });
});

describe('limits', () => {
  test('an endless loop is stopped at the time limit, and the engine keeps serving', async () => {
    const started = Date.now();
    await assert.rejects(run('export function main() { for (;;) {} }', { limits: { cpuMs: 200 } }), (err: any) => err.code === 'timeout' && /ran past its time limit of 200 ms/.test(err.message));
    assert.ok(Date.now() - started < 5000);
    await assert.rejects(run('for (;;) {} export function main() {}', { limits: { cpuMs: 200 } }), /time limit of 200 ms/, 'a loop at module top level too');
    assert.equal(await run('export function main() { return "alive"; }'), 'alive');
  });

  test('exhausting memory is stopped at the heap limit', async () => {
    await assert.rejects(
      run('export function main() { const a = []; for (;;) a.push(new Array(100000).fill(Math.random())); }', { limits: { heapMiB: 16, cpuMs: 10000 } }),
      (err: any) => err.code === 'too_large' && /heap limit of 16 MiB/.test(err.message),
    );
    assert.equal(await run('export function main() { return "alive"; }'), 'alive');
  });

  test('a stack overflow is reported as one', async () => {
    await assert.rejects(run('function f() { return f() + 1; } export function main() { return f(); }'), /overflowed its stack/);
    assert.equal(await run('export function main() { return "alive"; }'), 'alive');
  });

  test('an exception names its type and message', async () => {
    await assert.rejects(run('export function main() { throw new TypeError("nope"); }'), /the code threw TypeError: nope/);
  });
});

describe('fresh contexts made ahead (runFresh)', () => {
  const fresh = (pools: FreshPools, source: string, extra: Partial<Parameters<JsEngine['run']>[0]> = {}) =>
    engine.runFresh(pools, 'k', { modules: { '/main.js': source }, entry: '/main.js', exportName: 'main', prelude: exposing(extra), ...extra });

  test('every call sees a context nothing ran in before, across many isolates’ worth of calls', async () => {
    const pools = new FreshPools();
    const source = 'let calls = 0; export function main(x) { globalThis.seen = (globalThis.seen ?? 0) + 1; Object.prototype.polluted = x; return [++calls, globalThis.seen, x]; }';
    const results = [];
    for (let i = 0; i < 150; i++) results.push(await fresh(pools, source, { args: [i] }));
    assert.deepEqual(results, Array.from({ length: 150 }, (_, i) => [1, 1, i]));
    await pools.close();
  });

  test('module code that reaches the host while loading gets the calling request’s host', async () => {
    const pools = new FreshPools();
    const source = 'const who = whoami(); export function main() { return [who, whoami()]; }';
    for (const name of ['ann', 'bob', 'cyd']) assert.deepEqual(await fresh(pools, source, { host: { whoami: () => name } }), [name, name]);
    await pools.close();
  });

  test('a pool lets its isolates go when idle, and makes new ones on the next call', async () => {
    const pools = new FreshPools(10, 100);
    const source = 'export function main() { return "made"; }';
    assert.equal(await fresh(pools, source), 'made');
    const pool = pools.get('k', 64, () => Promise.reject(new Error('not made here')));
    assert.equal(pool.isolates, 2, 'one batch serving, the next being made');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(pool.isolates, 0);
    assert.equal(await fresh(pools, source), 'made');
    assert.equal(pool.isolates, 2);
    await pools.close();
  });

  test('overlapping calls open lanes of their own (isolates run at once), up to the limit; each still gets a fresh context', async () => {
    for (const lanes of [1, 2, 3]) {
      const pools = new FreshPools(10, 30_000, lanes);
      const source = 'let calls = 0; export function main(x) { return [++calls, x]; }';
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => fresh(pools, source, { args: [i] })));
      assert.deepEqual(results, Array.from({ length: 6 }, (_, i) => [1, i]));
      const pool = pools.get('k', 64, () => Promise.reject(new Error('not made here')));
      assert.equal(pool.isolates, 2 * lanes, `${lanes} lane(s), each with a batch serving and the next being made`);
      await pools.close();
    }
  });

  test('calls still waiting when their pool is disposed run in fresh isolates, and the pool makes nothing new', async () => {
    const pools = new FreshPools();
    const source = 'export function main(x) { return x * 2; }';
    const calls = Array.from({ length: 5 }, (_, i) => fresh(pools, source, { args: [i] }));
    const pool = pools.get('k', 64, () => Promise.reject(new Error('not made here')));
    await pools.close();
    assert.deepEqual(await Promise.all(calls), [0, 2, 4, 6, 8]);
    assert.equal(pool.isolates, 0, 'no batch was made after the pool went');
  });

  test('a call that breaks the heap limit fails alone; the next call gets a new isolate', async () => {
    const pools = new FreshPools();
    const source = 'export function main(blow) { if (!blow) return "alive"; const a = []; for (;;) a.push(new Array(100000).fill(Math.random())); }';
    const limits = { heapMiB: 16, cpuMs: 10000 };
    const calls = [fresh(pools, source, { args: [false], limits }), fresh(pools, source, { args: [true], limits }), fresh(pools, source, { args: [false], limits })];
    const [before, blown, after] = await Promise.allSettled(calls);
    assert.deepEqual(before, { status: 'fulfilled', value: 'alive' });
    assert.equal(blown.status, 'rejected');
    assert.match((blown as PromiseRejectedResult).reason.message, /heap limit of 16 MiB/);
    assert.deepEqual(after, { status: 'fulfilled', value: 'alive' });
    await pools.close();
  });
});
