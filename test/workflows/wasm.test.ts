import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO, type TestNode, startNode } from '../helpers/cli.js';
import { edgelessGuest } from '../helpers/edgeless-wasm.js';
import { wat } from '../helpers/wat.js';
import { ingress, jsFunction, workflowClient } from '../helpers/workflows.js';

let node: TestNode;
let wf: ReturnType<typeof workflowClient>;
before(async () => {
  node = await startNode({ users: ['alice'] });
  wf = workflowClient(node);
});
after(() => node.cleanup());

const wasmFunction = (name: string, module: Buffer, outputs: Record<string, string> = {}, annotations: Record<string, string> = {}) => ({
  name,
  class_specification: { id: name, function_type: 'RUST_WASM', version: '0.1', binary: module.toString('base64'), outputs: Object.keys(outputs) },
  output_mapping: outputs,
  annotations,
});

/** The guests' log lines, as the node logs them. */
const logged = (fn: string) =>
  node
    .logs()
    .split('\n')
    .filter((l) => l.includes(`"function":"${fn}"`))
    .map((l) => JSON.parse(l) as { target: string; msg: string });

test('WASM guests written for the EDGELESS ABI: ping-pong for N rounds, call replies, slf, delayed_cast, sync, init payload, logging', async () => {
  const spec = {
    functions: [wasmFunction('ping', edgelessGuest('ping'), { pong: 'pong' }, { 'init-payload': 'rounds=50' }), wasmFunction('pong', edgelessGuest('pong'))],
    resources: [],
  };
  const started = await wf.start(spec, 'wasm-pingpong');
  assert.equal(started.status, 201, started.body.toString());
  const result = await wf.until(async () => logged('ping').find((l) => l.msg.startsWith('count='))?.msg, 'the ping result');
  assert.equal(result, 'count=50,ret=1,err=1', '50 PONG replies; test_ret → Reply "test_reply"; test_err → Err');
  await wf.until(async () => (logged('ping').some((l) => l.msg === 'tick') ? true : undefined), 'the delayed cast');
  await wf.until(async () => (logged('ping').some((l) => l.msg === 'echoed') ? true : undefined), 'the cast echoed back by cast_raw');
  assert.ok(logged('pong').some((l) => l.target === 'pong' && l.msg === 'init'), 'telemetry_log with its target');

  await node.restart();
  const state = await wf.until(async () => logged('ping').find((l) => l.msg.startsWith('state:'))?.msg, 'the synced state at init');
  assert.equal(state, 'state:count=50,ret=1,err=1', 'handle_init got the last synced state after the restart');
});

test('a guest that replies with an invalid pointer, or emits non-UTF-8, traps; the caller gets Err and other workflows run on', async () => {
  const common = readFileSync(join(REPO, 'test', 'fixtures', 'edgeless', 'common.wat'), 'utf8');
  const liar = wat(`(module
    (import "env" "cast_asm" (func $cast (param i32 i32 i32 i32)))
    ${common}
    (data (i32.const 16) "out")
    (data (i32.const 32) "\\ff\\fe")
    (func (export "handle_init_asm") (param i32 i32 i32 i32))
    (func (export "handle_cast_asm") (param i32 i32 i32 i32) (call $cast (i32.const 16) (i32.const 3) (i32.const 32) (i32.const 2)))
    (func (export "handle_call_asm") (param i32 i32 i32 i32 i32 i32) (result i32)
      (i32.store (local.get 4) (i32.const -16))
      (i32.store (local.get 5) (i32.const 100))
      (i32.const 1))
    (func (export "handle_stop_asm")))`);
  const spec = {
    functions: [wasmFunction('liar', liar)],
    resources: [ingress('liar', { host: '127.0.0.1', method: 'GET' }), { ...ingress('liar', { host: '127.0.0.1', method: 'POST', async: 'true' }), name: 'ingress-async' }],
  };
  const started = await wf.start(spec, 'liar');
  assert.equal(started.status, 201, started.body.toString());
  assert.equal((await wf.ingress('/x')).status, 404, 'the reply pointed outside memory: Err');
  const id = started.json().workflow_id;
  const after = (await wf.inspect(id)).json().functions[0];
  assert.equal(after.restarts, 1, 'the trap restarted the instance');
  assert.equal(after.failed, false);
  assert.match(node.logs(), /guest pointer out of bounds/);

  // An async ingress casts the body in; the guest then casts out invalid UTF-8, which traps it.
  assert.equal((await wf.ingress('/x', 'hello')).status, 200);
  await wf.until(async () => ((await wf.inspect(id)).json().functions[0].restarts === 2 ? true : undefined), 'the second restart');
  assert.match(node.logs(), /the payload is not valid UTF-8/);

  const other = await wf.start({ functions: [jsFunction('ok', 'export function handle_call() { return JSON.stringify({ status: 200, body: [111, 107] }); }')], resources: [ingress('ok', { host: '127.0.0.1', method: 'PUT' })] }, 'bystander');
  assert.equal(other.status, 201);
  const alice = node.identity('alice');
  const { https } = await import('../helpers/https-client.js');
  const r = await https(`https://127.0.0.1:${node.ports.https}/ingress/y`, { ...alice, ca: node.ca }, { method: 'PUT', body: Buffer.from('z') });
  assert.deepEqual([r.status, r.body.toString()], [200, 'ok'], 'another workflow keeps running');
});
