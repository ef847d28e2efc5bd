import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';
import { wat } from '../helpers/wat.js';
import { openNodeStore } from '../helpers/node-store.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'], config: (c) => (c.log.level = 'warn') });
});
after(() => node.cleanup());

const id = (u: string) => ({ ...node.identity(u), ca: node.ca });
const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
const post = (u: string, p: string, json: unknown) => https(url(p), id(u), { method: 'POST', json });
const get = (u: string, p: string) => https(url(p), id(u));

async function upload(u: string, content: string | Buffer) {
  const plain = Buffer.isBuffer(content) ? content : Buffer.from(content);
  const c = (await post(u, '/v1/files', { file_name: 'f', sha256: sha256(plain), file_size: plain.length })).json();
  assert.equal((await https(c.access_path, id(u), { method: 'PUT', body: encryptForUpload(c.key_config, plain), headers: { 'content-type': 'application/octet-stream' } })).status, 200);
  return c.file_id as string;
}
async function read(u: string, fileId: string) {
  const info = (await get(u, `/v1/files/${fileId}`)).json();
  return decryptDownload(info.key_config, (await https(info.access_path, id(u))).body);
}

const upper = {
  name: 'upper',
  kind: 'js',
  type: 'Single',
  description: 'upper-cases a text file',
  modules: {
    '/main.js': "import { shout } from './lib/shout.js'; export function entrypoint(args, io) { io.output('result', shout(io.inputText('text'), args.suffix)); return 'done' + args.suffix; }",
    '/lib/shout.js': 'export const shout = (s, suffix) => s.toUpperCase() + suffix;',
  },
  interface: { payload: 'json', arguments: [{ name: 'suffix', required: true }], inputs: [{ name: 'text' }], outputs: [{ name: 'result', for: 'creator' }] },
};

describe('JS task functions', () => {
  test('register, run with named inputs and outputs, and see the function hash on the task', async () => {
    const reg = await post('alice', '/v1/functions', upper);
    assert.equal(reg.status, 201, reg.body.toString());
    const { function_id, code_hash } = reg.json();
    assert.match(function_id, /^[0-9a-f]{64}$/);
    assert.equal((await post('bob', '/v1/functions', upper)).json().function_id, function_id, 'the same registration is the same id');
    const changed = { ...upper, modules: { ...upper.modules, '/lib/shout.js': 'export const shout = (s) => s;' } };
    assert.notEqual((await post('alice', '/v1/functions', changed)).json().function_id, function_id, 'other code, another id');

    const text = await upload('alice', 'hello');
    const task = (await post('alice', '/v1/tasks', { function_name: function_id, files: [text] })).json();
    const view = (await get('alice', `/v1/tasks/${task.task_id}`)).json();
    const registered = (await get('alice', `/v1/functions/${function_id}`)).json();
    assert.equal(registered.code_hash, code_hash);
    assert.match(registered.function_hash, /^[0-9a-f]{64}$/);
    assert.notEqual(registered.function_hash, code_hash, 'the function hash covers more than the code');
    assert.equal(view.function_hash, registered.function_hash);
    const run = await post('alice', `/v1/tasks/${task.task_id}/invoke`, { task_token: task.task_token, payload: JSON.stringify({ suffix: '!' }) });
    assert.equal(run.status, 200, run.body.toString());
    assert.equal(run.json().result, 'done!');
    const out = (await get('alice', `/v1/tasks/${task.task_id}`)).json().user_private_result_file_id[0];
    assert.equal((await read('alice', out)).toString(), 'HELLO!');
    assert.ok((await get('alice', '/v1/functions')).json().functions.some((f: any) => f.name === function_id && f.code_hash === code_hash));
  });

  test('a collaborator approves the function hash; code that no longer matches cannot run', async () => {
    const join2 = {
      name: 'join2',
      kind: 'js',
      type: 'Multiparty',
      modules: { '/main.js': "export function entrypoint(args, io) { const s = io.inputText('a') + '+' + io.inputText('b'); io.output('both', s); return s; }" },
      interface: { payload: 'none', arguments: [], inputs: [{ name: 'a' }, { name: 'b' }], outputs: [{ name: 'both', for: 'all_participants' }] },
    };
    const { function_id } = (await post('alice', '/v1/functions', join2)).json();
    const { function_hash } = (await get('bob', `/v1/functions/${function_id}`)).json();
    const task = (await post('alice', '/v1/tasks', { function_name: function_id, collaborator_list: ['bob'], files: [await upload('alice', 'A')] })).json();
    assert.equal((await get('bob', `/v1/tasks/${task.task_id}`)).json().function_hash, function_hash, 'what bob approves');
    await post('bob', `/v1/tasks/${task.task_id}/approve`, { files: [await upload('bob', 'B')] });

    // Someone with access to the store swaps the function's code after approval.
    // (Rows are sealed at rest: only someone holding the sealing key can do this.)
    const store = openNodeStore(node.dir);
    store.transact((tx) => {
      const record = tx.get<{ modules: Record<string, string>; code_hash: string }>('functions.registered', function_id)!;
      record.modules['/main.js'] = "export function entrypoint() { return 'stolen'; }";
      record.code_hash = 'f'.repeat(64);
      tx.put('functions.registered', function_id, record);
    });
    store.close();
    const refused = await post('alice', `/v1/tasks/${task.task_id}/invoke`, { task_token: task.task_token });
    assert.equal(refused.status, 403);
    assert.match(refused.json().error.message, /is not the function this task was created and approved with: its function_hash \(code, interface/);
  });

  test('a function that loops fails its task at its time limit, and the node keeps serving', async () => {
    const spin = { name: 'spin', kind: 'js', type: 'Single', modules: { '/main.js': 'export function entrypoint() { for (;;) {} }' }, interface: { payload: 'none', arguments: [], inputs: [], outputs: [] }, limits: { cpuMs: 200 } };
    const { function_id } = (await post('alice', '/v1/functions', spin)).json();
    const task = (await post('alice', '/v1/tasks', { function_name: function_id })).json();
    const r = await post('alice', `/v1/tasks/${task.task_id}/invoke`, { task_token: task.task_token });
    assert.equal(r.status, 408);
    assert.match(r.json().error.message, /ran past its time limit of 200 ms/);
    assert.equal((await get('alice', `/v1/tasks/${task.task_id}`)).json().status, 'Failed');
    assert.equal((await https(url('/v1/health'), { ca: node.ca })).status, 200);
  });

  test('exhausting memory and escaping the sandbox fail the task, and the node keeps serving', async () => {
    const run = async (source: string, limits: Record<string, number> = {}) => {
      const spec = { name: `probe${Math.random().toString(36).slice(2, 8)}`, kind: 'js', type: 'Single', modules: { '/main.js': source }, interface: { payload: 'none', arguments: [], inputs: [], outputs: [] }, limits };
      const { function_id } = (await post('alice', '/v1/functions', spec)).json();
      const task = (await post('alice', '/v1/tasks', { function_name: function_id })).json();
      return post('alice', `/v1/tasks/${task.task_id}/invoke`, { task_token: task.task_token });
    };
    const hog = await run('export function entrypoint() { const a = []; for (;;) a.push(new Array(1e5).fill(1)); }', { heapMiB: 16, cpuMs: 20000 });
    assert.equal(hog.status, 413);
    assert.match(hog.json().error.message, /heap limit of 16 MiB/);
    const escape = await run("export function entrypoint() { return (() => {}).constructor.constructor('return process.env.HOME')(); }");
    assert.match(escape.json().error.message, /ReferenceError: process is not defined/);
    const proto = await run("export function entrypoint() { return String(({}).__proto__.constructor.constructor('return typeof require')()); }");
    assert.equal(proto.json().result, 'undefined');
    const deep = await run('function f() { return f(); } export function entrypoint() { return f(); }');
    assert.match(deep.json().error.message, /overflowed its stack/);
    assert.equal((await https(url('/v1/health'), { ca: node.ca })).status, 200);
  });

  test('bad registrations are refused with the reason', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...upper, modules: {} }, /a js function needs modules/],
      [{ ...upper, kind: 'wasm', modules: undefined, wasm: Buffer.from('nope').toString('base64') }, /wasm is not a base64 WebAssembly module/],
      [{ ...upper, name: 'echo' }, /'echo' is a built-in function's name/],
      [{ ...upper, interface: { payload: 'json' } }, /interface must have required property 'arguments'/],
      [{ ...upper, interface: { ...upper.interface, outputs: [{ name: 'x', for: 'file_owner' }] } }, /goes to the owner of an input: name it in owner_of/],
      // The review chose heap 4096 MiB and 600 s; the operator's maxima (defaults 512 MiB, 60 s) refuse them.
      [{ ...upper, limits: { heapMiB: 4096, cpuMs: 600000 } }, /limits.heapMiB 4096 is over this node's maximum of 512; limits.cpuMs 600000 is over this node's maximum of 60000/],
    ];
    for (const [spec, pattern] of cases) {
      const r = await post('alice', '/v1/functions', spec);
      assert.equal(r.status, r.status >= 400 ? r.status : 400, JSON.stringify(spec));
      assert.match(r.json().error.message, pattern);
    }
  });
});

describe('WASM task functions (Teaclave executor ABI)', () => {
  // Written against Teaclave's WAMR ABI: entrypoint(argc, argv) with teaclave_open_input,
  // teaclave_create_output, teaclave_read_file, teaclave_write_file and teaclave_close_file.
  const module = wat(`(module
    (import "env" "teaclave_open_input" (func $open_input (param i32) (result i32)))
    (import "env" "teaclave_create_output" (func $create_output (param i32) (result i32)))
    (import "env" "teaclave_read_file" (func $read (param i32 i32 i32) (result i32)))
    (import "env" "teaclave_write_file" (func $write (param i32 i32 i32) (result i32)))
    (import "env" "teaclave_close_file" (func $close (param i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "input_file\\00output_file\\00")
    (func (export "entrypoint") (param $argc i32) (param $argv i32) (result i32)
      (local $in i32) (local $out i32) (local $n i32) (local $i i32)
      (local.set $in (call $open_input (i32.const 0)))
      (local.set $n (call $read (local.get $in) (i32.const 1024) (i32.const 4096)))
      (drop (call $close (local.get $in)))
      (block $done (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.add (i32.const 1024) (local.get $i)) (i32.add (i32.load8_u (i32.add (i32.const 1024) (local.get $i))) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
      (local.set $out (call $create_output (i32.const 11)))
      (drop (call $write (local.get $out) (i32.const 1024) (local.get $n)))
      (drop (call $close (local.get $out)))
      (i32.add (i32.mul (local.get $argc) (i32.const 1000)) (local.get $n))))`);

  test('a module written for Teaclave runs unmodified: reads its input, writes its output, returns its status', async () => {
    const spec = {
      name: 'wasm_plus_one',
      kind: 'wasm',
      type: 'Single',
      wasm: module.toString('base64'),
      interface: { payload: 'optional-json', arguments: [{ name: 'mode' }], inputs: [{ name: 'input_file' }], outputs: [{ name: 'output_file', for: 'creator' }] },
    };
    const reg = await post('alice', '/v1/functions', spec);
    assert.equal(reg.status, 201, reg.body.toString());
    const task = (await post('alice', '/v1/tasks', { function_name: reg.json().function_id, files: [await upload('alice', 'HAL')] })).json();
    const r = await post('alice', `/v1/tasks/${task.task_id}/invoke`, { task_token: task.task_token, payload: JSON.stringify({ mode: 'x', level: 2 }) });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().result, '4003', 'argc 4 (mode, x, level, 2) and 3 bytes');
    const out = (await get('alice', `/v1/tasks/${task.task_id}`)).json().user_private_result_file_id[0];
    assert.equal((await read('alice', out)).toString(), 'IBM');
  });
});
