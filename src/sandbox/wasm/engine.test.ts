import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wat } from '../../../test/helpers/wat.js';
import { WasmEngine } from './engine.js';

const engine = new WasmEngine();
const call = (fn: string, ...args: number[]) => `function imports() { return { env: { host_double: (x) => host_double(x) } }; }
  function run(instance) { return instance.exports.${fn}(${args.join(',')}); }`;

const module = wat(`(module
  (import "env" "host_double" (func $double (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "twice") (param i32) (result i32) local.get 0 call $double)
  (func (export "spin") (loop $l br $l))
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func $deep (export "deep") (result i32) call $deep))`);

test('runs a module inside an isolate, with host imports granted through the glue', async () => {
  assert.equal(await engine.run({ module, glue: call('add', 2, 3), host: { host_double: (x: number) => x * 2 } }), 5);
  assert.equal(await engine.run({ module, glue: call('twice', 21), host: { host_double: (x: number) => x * 2 } }), 42);
});

test('an endless loop is stopped at the time limit', async () => {
  await assert.rejects(engine.run({ module, glue: call('spin'), host: { host_double: () => 0 }, limits: { cpuMs: 200 } }), /ran past its time limit of 200 ms/);
});

test('memory cannot grow past the page limit; a module needing more at start is refused', async () => {
  assert.equal(await engine.run({ module, glue: call('grow', 1), host: { host_double: () => 0 }, limits: { memoryPages: 2 } }), 1, 'growing to 2 pages works');
  assert.equal(await engine.run({ module, glue: call('grow', 5), host: { host_double: () => 0 }, limits: { memoryPages: 2 } }), -1, 'growing past the cap fails inside the module');
  const big = wat('(module (memory 10) (func (export "f")))');
  await assert.rejects(engine.run({ module: big, glue: 'function imports() { return {}; } function run() {}', limits: { memoryPages: 4 } }), /needs 10 pages of memory at start; its limit is 4 pages/);
});

test('infinite recursion and malformed modules get clear errors', async () => {
  await assert.rejects(engine.run({ module, glue: call('deep'), host: { host_double: () => 0 } }), /overflowed its stack|module failed/);
  await assert.rejects(engine.run({ module: Buffer.from('not wasm at all'), glue: '' }), /not a WebAssembly module/);
});
