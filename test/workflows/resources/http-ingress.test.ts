// http-ingress matching as EDGELESS does it (edgeless_node/src/resources/http_ingress.rs): wf_id=true
// answers only requests whose query carries ?wf_id=<this workflow's id>, else 404 "Not Found"; methods
// outside EDGELESS's six are refused at start; booleans are "true" in any case.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../../helpers/cli.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../../helpers/workflows.js';

let node: TestNode;
let alice: ReturnType<typeof workflowClient>;
let bob: ReturnType<typeof workflowClient>;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'] });
  alice = workflowClient(node, 'alice');
  bob = workflowClient(node, 'bob');
});
after(() => node.cleanup());

/** EDGELESS's examples/http_ingress/workflow-async.json, as written there. */
const WORKFLOW_ASYNC = {
  functions: [],
  resources: [
    { name: 'http-ingress', class_type: 'http-ingress', output_mapping: { new_request: 'file-log' }, configurations: { wf_id: 'true', async: 'true' } },
    { name: 'file-log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'out.log', 'add-timestamp': 'true' } },
  ],
  annotations: {},
};

const logOf = async (client: typeof alice, name: string) => {
  const r = await client.file(name, 'out.log');
  return r.status === 200 ? (r.json().content as string) : '';
};

describe('wf_id', () => {
  test("EDGELESS's http_ingress example: Not Found without ?wf_id or with another workflow's id; logged with its own", async () => {
    const a = await alice.start(WORKFLOW_ASYNC, 'ingress-a');
    assert.equal(a.status, 201, a.body.toString());
    const id: string = a.json().workflow_id;
    // bob runs the same example: wf_id routes of different workflows never overlap, so both start
    const b = await bob.start(WORKFLOW_ASYNC, 'ingress-b');
    assert.equal(b.status, 201, b.body.toString());
    const bobId: string = b.json().workflow_id;

    for (const path of ['/', '/?x=1', `/?wf_id=${bobId}`, `/?wf_id=${id.toUpperCase()}`, `/?wf_id=${encodeURIComponent(`${id} `)}`, `/?wf_id`, `/?other=1&wf_id=nobody&wf_id=${id}`]) {
      const r = await alice.ingress(path, 'hello world');
      if (path === `/?wf_id=${bobId}`) {
        // bob's workflow takes it: that is his id
        assert.equal(r.status, 200, path);
        continue;
      }
      assert.equal(r.status, 404, path);
      assert.equal(r.body.toString(), 'Not Found', path);
    }
    const ok = await alice.ingress(`/?wf_id=${id}`, 'hello world');
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), 'OK');
    // the first wf_id parameter decides, wherever it is in the query
    assert.equal((await alice.ingress(`/some/path?x=1&wf_id=${id}&wf_id=other`, 'second')).status, 200);

    const content = await alice.until(async () => {
      const text = await logOf(alice, 'ingress-a');
      return text.split('\n').length > 2 ? text : undefined;
    }, 'two lines in out.log');
    const lines = content.trimEnd().split('\n');
    assert.equal(lines.length, 2, content);
    assert.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 hello world$/);
    assert.match(lines[1], / second$/);
    // bob's log has only the request that carried his id
    const bobLog = await bob.until(async () => (await logOf(bob, 'ingress-b')) || undefined, "bob's out.log");
    assert.match(bobLog, /^\S+ hello world\n$/);
    assert.equal((await alice.stop(id)).status, 200);
    assert.equal((await alice.ingress(`/?wf_id=${id}`, 'late')).status, 404);
    assert.equal((await bob.stop(bobId)).status, 200);
  });

  test('wf_id is case-insensitive "true", as are async and encode_base64; anything else is off', async () => {
    const ECHO = `${HTTP_REPLY}\nexport function handle_call(src, msg) { return reply(200, 'sync'); }\nexport function handle_cast(src, msg) { edgeless.cast('log', msg); }`;
    const spec = (configurations: Record<string, string>) => ({
      functions: [jsFunction('fn', ECHO, { log: 'log' })],
      resources: [ingress('fn', { host: 'flags.example', ...configurations }), { name: 'log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'out.log' } }],
    });
    const r = await alice.start(spec({ wf_id: 'TRUE', async: 'True', encode_base64: 'tRuE' }), 'flags');
    assert.equal(r.status, 201, r.body.toString());
    const id = r.json().workflow_id;
    assert.equal((await alice.ingressAt('flags.example', '/', { body: 'x' })).status, 404);
    const ok = await alice.ingressAt('flags.example', `/?wf_id=${id}`, { body: 'hi' });
    assert.equal(ok.body.toString(), 'OK');
    assert.equal(await alice.until(async () => (await logOf(alice, 'flags')) || undefined, 'the line'), `${Buffer.from('hi').toString('base64')}\n`);
    assert.equal((await alice.stop(id)).status, 200);

    const off = await alice.start(spec({ wf_id: 'yes', async: 'false' }), 'flags-off');
    assert.equal(off.status, 201, off.body.toString());
    const sync = await alice.ingressAt('flags.example', '/', { body: 'x' });
    assert.equal(sync.body.toString(), 'sync', 'wf_id=yes is off and async=false calls');
    assert.equal((await alice.stop(off.json().workflow_id)).status, 200);
  });
});

describe('matching', () => {
  test('a host with a port matches only that port; without one, any port', async () => {
    const WHO = `${HTTP_REPLY}\nexport function handle_call() { return reply(200, 'here'); }`;
    const r = await alice.start({ functions: [jsFunction('who', WHO)], resources: [ingress('who', { host: 'ported.example:7008' })] }, 'ported');
    assert.equal(r.status, 201, r.body.toString());
    assert.equal((await alice.ingressAt('ported.example:7008', '/')).body.toString(), 'here');
    assert.equal((await alice.ingressAt('ported.example:7009', '/')).status, 404);
    assert.equal((await alice.ingressAt('ported.example', '/')).status, 404);
    assert.equal((await alice.stop(r.json().workflow_id)).status, 200);
  });

  test("a method outside EDGELESS's six, or method and methods disagreeing, is refused at start by name", async () => {
    for (const [configurations, message] of [
      [{ method: 'GET,FETCH' }, /resource 'ingress' \(http-ingress\): invalid method 'FETCH' \(one of GET, HEAD, POST, PUT, DELETE, PATCH\)/],
      [{ methods: 'OPTIONS' }, /invalid method 'OPTIONS'/],
      [{ method: 'GET', methods: 'POST' }, /resource 'ingress' \(http-ingress\) sets both 'method' and 'methods'; give one/],
    ] as Array<[Record<string, string>, RegExp]>) {
      const r = await alice.start({ functions: [jsFunction('x', 'export function handle_call() { return ""; }')], resources: [ingress('x', configurations)] }, 'bad-method');
      assert.equal(r.status, 400, r.body.toString());
      assert.match(r.json().error.message, message);
      assert.equal((await alice.list()).json().workflows.length, 0);
    }
  });
});
