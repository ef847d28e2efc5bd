import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../../helpers/cli.js';
import { https } from '../../helpers/https-client.js';
import { wat } from '../../helpers/wat.js';

// Late MesaTEE's wasmi_from_buffer through the REST API, as test/rest/builtins.test.ts runs built-ins.
// MesaTEE's own vectors were the WebAssembly spec .wast files of rust-sgx-sdk's samplecode/wasmi (a
// submodule, not in MesaTEE's history), turned into actions by tests/integration_test/src/wasm/wasmi_faas.rs;
// the modules here are built in the test, in the same action format.

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.log.level = 'warn') });
});
after(() => node.cleanup());

const id = () => ({ ...node.identity('alice'), ca: node.ca });
const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;

async function run(payload: string) {
  const c = await https(url('/v1/tasks'), id(), { method: 'POST', json: { function_name: 'wasmi_from_buffer', files: [], collaborator_list: [] } });
  assert.equal(c.status, 201, c.body.toString());
  const { task_id, task_token } = c.json();
  const r = await https(url(`/v1/tasks/${task_id}/invoke`), id(), { method: 'POST', json: { task_token, payload } });
  return { status: r.status, result: r.json().result as string | undefined, error: r.json().error as { code: string; message: string } | undefined };
}

const load = (m: Buffer | string) => ({ LoadModule: { name: null, module: typeof m === 'string' ? m : [...m] } });
const invoke = (field: string, args: unknown[] = []) => ({ Invoke: { module: null, field, args } });

const MODULE = wat(`(module
  (import "spectest" "print_i32" (func $print (param i32)))
  (global (export "g") i32 (i32.const 42))
  (func (export "add") (param i32 i32) (result i32) (call $print (local.get 0)) (i32.add (local.get 0) (local.get 1)))
  (func (export "mul64") (param i64 i64) (result i64) (i64.mul (local.get 0) (local.get 1)))
  (func (export "half") (param f64) (result f64) (f64.div (local.get 0) (f64.const 2)))
  (func (export "neg32") (param f32) (result f32) (f32.neg (local.get 0)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "nop"))
  (func (export "spin") (loop $l (br $l)))
  (memory 1)
  (func (export "grow") (result i32) (memory.grow (i32.const 100000)))
  (func (export "grow_all") (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable))`);

describe('wasmi_from_buffer (late MesaTEE)', () => {
  test('LoadModule, Invoke and Get: MesaTEE\'s result list, 64-bit values exact, traps as {"Err":null}', async () => {
    const actions = [
      load(MODULE),
      invoke('add', [{ I32: 1 }, { I32: 2 }]),
      invoke('mul64', [{ I64: 3037000499 }, { I64: 3037000499 }]),
      invoke('half', [{ F64: 4613937818241073152 }]), // 3.0 → 1.5
      invoke('neg32', [{ F32: 1065353216 }]), // 1.0 → -1.0
      invoke('div', [{ I32: 1 }, { I32: 0 }]),
      invoke('nop'),
      { Get: { module: null, field: 'g' } },
    ];
    const payload = JSON.stringify(actions).replace(/"I64":(\d+)/g, '"I64":$1').replace('"F64":4613937818241073000', '"F64":4613937818241073152');
    const r = await run(payload.replace(/"F64":\d+/, '"F64":4613937818241073152'));
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.equal(r.result, '[{"Ok":null},{"Ok":{"I32":3}},{"Ok":{"I64":9223372030926249001}},{"Ok":{"F64":4609434218613702656}},{"Ok":{"F32":3212836864}},{"Err":null},{"Ok":null},{"Ok":{"I32":42}}]');
  });

  test('the module may be base64; memory.grow past the limit fails inside the module (-1)', async () => {
    const r = await run(JSON.stringify([load(MODULE.toString('base64')), invoke('grow')]));
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.equal(r.result, '[{"Ok":null},{"Ok":{"I32":-1}}]');
  });

  test('bad input fails the task with a reason and no result', async () => {
    const cases: Array<[string, RegExp]> = [
      ['not json', /wasmi_from_buffer: the payload must be a JSON list of actions/],
      [JSON.stringify([load('not base64!')]), /wasmi_from_buffer: module is not standard base64/],
      [JSON.stringify([load(Buffer.from('hello, world'))]), /module is not a WebAssembly binary/],
      [JSON.stringify([load(Buffer.concat([MODULE.subarray(0, 8), Buffer.from([1, 200, 1])]))]), /wasmi_from_buffer: .*(cannot be loaded|truncated|well-formed)/],
      [JSON.stringify([load(MODULE), invoke('missing')]), /wasmi_from_buffer: the module has no exported function 'missing'/],
      [JSON.stringify([invoke('add')]), /the first action must be LoadModule/],
      [JSON.stringify([load(MODULE), { Register: { name: null, as_name: 'm' } }]), /Register is not supported/],
      [JSON.stringify([load(MODULE), invoke('add', [{ I32: 2 ** 40 }])]), /argument 1 must be/],
      [JSON.stringify([load(MODULE), invoke('spin')]), /wasmi_from_buffer: the module ran past its time limit/],
    ];
    for (const [payload, reason] of cases) {
      const r = await run(payload);
      assert.notEqual(r.status, 200, payload.slice(0, 80));
      assert.match(r.error?.message ?? '', reason, payload.slice(0, 80));
      assert.equal(r.result, undefined);
    }
  });

  test('a module that grows memory until the cap stops at the limit (unreachable after -1 is a trap, not a crash)', async () => {
    const r = await run(JSON.stringify([load(MODULE), invoke('grow_all')]));
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.equal(r.result, '[{"Ok":null},{"Err":null}]');
  });
});
