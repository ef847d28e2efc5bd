import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../helpers/workflows.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

let node: TestNode;
let wf: ReturnType<typeof workflowClient>;
before(async () => {
  // Generous limits: no test here waits on a timeout (cycles are refused at once), and a 300 ms call
  // timeout failed a busy machine's first calls into fresh instances.
  node = await startNode({ users: ['alice'], config: (c) => (c.workflows = { call_timeout_ms: 15000, event_timeout_ms: 30000 }) });
  wf = workflowClient(node);
});
after(() => node.cleanup());

const PING = `${HTTP_REPLY}
let rounds = 0, done = 0;
export function handle_init(payload, state) {
  rounds = Number(edgeless.parse_init_payload(payload).rounds);
  edgeless.delayed_cast(10, 'self', 'go');
}
export function handle_cast(src, msg) {
  if (msg === 'go') return edgeless.cast('pong', 'ping 0');
  const i = Number(msg.split(' ')[1]);
  done = i + 1;
  if (done < rounds) edgeless.cast('pong', 'ping ' + done);
}
export function handle_call(src, msg) { return reply(200, String(done)); }`;
const PONG = `export function handle_cast(src, msg) { edgeless.cast_raw(src, msg.replace('ping', 'pong')); }`;

describe('JS instances', () => {
  test('a ping-pong workflow exchanges events for N rounds', async () => {
    const spec = { functions: [jsFunction('ping', PING, { pong: 'pong' }, { 'init-payload': 'rounds=100' }), jsFunction('pong', PONG)], resources: [ingress('ping', { host: '127.0.0.1' })] };
    const started = await wf.start(spec, 'pingpong');
    assert.equal(started.status, 201, started.body.toString());
    const count = await wf.until(async () => {
      const r = await wf.ingress('/count');
      return r.body.toString() === '100' ? 100 : undefined;
    }, '100 rounds');
    assert.equal(count, 100);
    const inspected = (await wf.inspect(started.json().workflow_id)).json();
    assert.deepEqual(inspected.functions.map((f: any) => f.name).sort(), ['ping', 'pong']);
    assert.ok(inspected.functions.find((f: any) => f.name === 'pong').events >= 100);
    assert.equal((await wf.stop(started.json().workflow_id)).status, 200);
  });

  test('a counter syncs; it continues after a node restart and after a stop and start of its workflow', async () => {
    const COUNTER = `${HTTP_REPLY}
let count = 0;
export function handle_init(payload, state) { count = state ? JSON.parse(state).count : 0; }
export function handle_call(src, msg) { count++; edgeless.sync(JSON.stringify({ count })); return reply(200, String(count)); }`;
    const spec = { functions: [jsFunction('counter', COUNTER)], resources: [ingress('counter', { host: '127.0.0.1', method: 'POST' })] };
    const first = await wf.start(spec, 'counter');
    assert.equal(first.status, 201, first.body.toString());
    const bump = async () => (await wf.ingress('/bump', 'x')).body.toString();
    assert.deepEqual([await bump(), await bump(), await bump()], ['1', '2', '3']);

    await node.restart();
    assert.equal(await bump(), '4', 'the workflow came back with its synced state');
    const id = (await wf.list()).json().workflows.find((w: any) => w.name === 'counter').workflow_id;
    assert.equal((await wf.stop(id)).status, 200);
    assert.equal((await wf.ingress('/bump', 'x')).status, 404, 'nothing answers while it is stopped');
    assert.equal((await wf.start(spec, 'counter')).status, 201);
    assert.equal(await bump(), '5', 'a workflow started again under the same name gets its state back');
  });

  test('http-ingress filters by method and answers 404 when nothing matches', async () => {
    const spec = { functions: [jsFunction('hello', `${HTTP_REPLY} export function handle_call(src, msg) { const req = JSON.parse(msg); return req.path.startsWith('/hello') ? reply(200, 'World ' + req.method) : null; }`)], resources: [ingress('hello', { methods: 'GET' })] };
    const started = await wf.start(spec, 'hello');
    assert.equal(started.status, 201);
    const r = await wf.ingress('/hello?x=1');
    assert.deepEqual([r.status, r.body.toString()], [200, 'World Get']);
    assert.equal((await wf.ingress('/other')).status, 404, 'NoReply gives 404');
    await wf.stop(started.json().workflow_id);
  });

  test('a call cycle returns Err instead of deadlocking; an unmapped call is Err and the instance lives', async () => {
    const A = `${HTTP_REPLY} export function handle_call(src, msg) { if (msg === 'inner') return 'a'; const r = edgeless.call('b', 'x'); const u = edgeless.call('nowhere', 'x'); return reply(200, r.type + '/' + u.type); }`;
    const B = `export function handle_call(src, msg) { const r = edgeless.call('a', 'inner'); return 'b saw ' + r.type; }`;
    const spec = { functions: [jsFunction('a', A, { b: 'b' }), jsFunction('b', B, { a: 'a' })], resources: [ingress('a', { host: '127.0.0.1' })] };
    const started = await wf.start(spec, 'cycle');
    const r = await wf.ingress('/go');
    assert.deepEqual([r.status, r.body.toString()], [200, 'reply/err']);
    await wf.stop(started.json().workflow_id);
  });

  test('a trapping instance restarts from its last synced state, within its budget', async () => {
    const FRAGILE = `${HTTP_REPLY}
let n = 0;
export function handle_init(payload, state) { n = state ? Number(state) : 0; }
export function handle_call(src, msg) { if (msg.includes('crash')) throw new Error('boom'); n++; edgeless.sync(String(n)); return reply(200, String(n)); }`;
    const spec = { functions: [jsFunction('fragile', FRAGILE)], resources: [ingress('fragile', { host: '127.0.0.1' })] };
    const started = await wf.start(spec, 'fragile');
    assert.equal((await wf.ingress('/ok')).body.toString(), '1');
    assert.equal((await wf.ingress('/crash')).status, 404, 'the trapped call is Err');
    assert.equal((await wf.ingress('/ok')).body.toString(), '2', 'restarted from the synced 1');
    assert.equal((await wf.inspect(started.json().workflow_id)).json().functions[0].restarts, 1);
    await wf.stop(started.json().workflow_id);
  });
});

describe('instances of one workflow share an isolate, not their globals', () => {
  test('globals, prototypes and module state written by one instance are invisible to another', async () => {
    const WRITER = `export function handle_call(src, msg) { globalThis.secret = msg; Object.prototype.leak = msg; Array.prototype.push = () => 0; return 'written'; }`;
    const READER = `let seen = 0; export function handle_call(src, msg) { seen++; return JSON.stringify({ secret: typeof globalThis.secret, leak: ({}).leak ?? null, push: [1].push(2), seen }); }`;
    const FRONT = `${HTTP_REPLY}
export function handle_call(src, msg) {
  const w = edgeless.call('writer', 'hunter2');
  const r = edgeless.call('reader', '');
  return reply(200, w.data + ' ' + r.data);
}`;
    const spec = { functions: [jsFunction('front', FRONT, { writer: 'writer', reader: 'reader' }), jsFunction('writer', WRITER), jsFunction('reader', READER)], resources: [ingress('front', { host: '127.0.0.1', method: 'GET' })] };
    const started = await wf.start(spec, 'separation');
    assert.equal(started.status, 201, started.body.toString());
    const r = await wf.ingress('/x');
    assert.equal(r.body.toString(), 'written {"secret":"undefined","leak":null,"push":2,"seen":1}');
    assert.equal((await wf.stop(started.json().workflow_id)).status, 200);
  });
});

describe('bad workflows are refused, and others keep running', () => {
  test('missing fields, unknown types, dangling aliases, bad code', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ functions: [{ name: 'x' }] }, /functions\.0 must have required property 'class_specification'/],
      [{ functions: [{ name: 'x', class_specification: { id: 'x', function_type: 'PYTHON', version: '1' } }] }, /function_type must be equal to one of the allowed values/],
      // CONTAINER is EDGELESS's: refused by name (test/workflows/container.test.ts)
      [{ functions: [{ name: 'x', class_specification: { id: 'x', function_type: 'CONTAINER', version: '1' } }] }, /function 'x' is a CONTAINER function/],
      [{ functions: [jsFunction('x', 'export function handle_cast() {}', { out: 'ghost' })] }, /'x' maps 'out' to 'ghost', which is not a function or resource of this workflow/],
      [{ functions: [jsFunction('x', 'this is not javascript')] }, /function 'x' cannot be loaded/],
      [{ functions: [{ name: 'w', class_specification: { id: 'w', function_type: 'RUST_WASM', version: '1', binary: Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]).toString('base64') } }] }, /BadCode: memory, edgeless_mem_alloc, .* not available/],
      [{ functions: [jsFunction('x', 'export function handle_cast() {}')], resources: [{ name: 'r', class_type: 'redis' }] }, /resource 'r' has class 'redis'/],
    ];
    for (const [spec, pattern] of cases) {
      const r = await wf.start(spec);
      assert.equal(r.status, 400, JSON.stringify(spec));
      assert.match(r.json().error.message, pattern);
    }
    assert.deepEqual((await wf.list()).json().workflows.filter((w: any) => w.name !== 'counter').map((w: any) => w.name), [], 'nothing half-started');
  });
});

describe('tessera workflow', () => {
  test('start (inlining code files), list, inspect and stop from the command line', async () => {
    const { tessera, tempDir } = await import('../helpers/cli.js');
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dir = tempDir();
    writeFileSync(join(dir, 'echo.js'), 'export function handle_call(src, msg) { return msg; }');
    writeFileSync(join(dir, 'flow.json'), JSON.stringify({ functions: [{ name: 'echo', class_specification: { id: 'echo', function_type: 'JS', version: '1', code: 'echo.js', outputs: [] }, output_mapping: {}, annotations: {} }], resources: [] }));
    const flags = ['-i', join(identitiesDirOf(node.dir), 'alice'), '--url', `https://127.0.0.1:${node.ports.https}`, '--insecure-skip-verification'];
    const started = await tessera(['workflow', 'start', join(dir, 'flow.json'), ...flags]);
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.match((await tessera(['workflow', 'list', ...flags])).stdout, new RegExp(`${id}  flow  alice`));
    assert.equal(JSON.parse((await tessera(['workflow', 'inspect', id, '--json', ...flags])).stdout).functions[0].name, 'echo');
    assert.match((await tessera(['workflow', 'stop', id, ...flags])).stdout, /stopped flow/);
    writeFileSync(join(dir, 'broken.json'), JSON.stringify({ functions: [{ name: 'x', class_specification: { id: 'x', function_type: 'JS', version: '1', code: 'missing.js' } }] }));
    const broken = await tessera(['workflow', 'start', join(dir, 'broken.json'), ...flags]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /function 'x': code file .*missing.js does not exist/);
  });
});
