// http-poster (EDGELESS edgeless_node/src/resources/http_poster.rs): EDGELESS's http-poster example
// (examples/http_poster/workflow.json, here examples/workflows/http-poster/ with the counter in JS) POSTs
// 1, 2, 3… to a local server; decode_base64; a call gets NoReply at once; a url whose host is not in
// workflows.egress_hosts, or that is no URL, is refused at start.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadWorkflowFile } from '../../../src/cli/commands/workflow.js';
import { type BodyServer, startBodyServer } from '../../helpers/body-server.js';
import { REPO, type TestNode, startNode } from '../../helpers/cli.js';
import { jsFunction, workflowClient } from '../../helpers/workflows.js';

let server: BodyServer;
let elsewhere: BodyServer;
let node: TestNode;
let alice: ReturnType<typeof workflowClient>;

before(async () => {
  server = await startBodyServer();
  elsewhere = await startBodyServer();
  node = await startNode({ users: ['alice'], config: (c) => (c.workflows = { egress_hosts: [`127.0.0.1:${server.port}`] }) });
  alice = workflowClient(node, 'alice');
});
after(async () => {
  await node?.cleanup();
  await server?.close();
  await elsewhere?.close();
});

/** Waits until the server holds at least `n` bodies on `path`. */
async function bodies(path: string, n: number): Promise<string[]> {
  for (let i = 0; i < 600; i++) {
    const got = server.bodies(path);
    if (got.length >= n) return got;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`${path}: only ${JSON.stringify(server.bodies(path))}`);
}

const poster = (name: string, configurations: Record<string, string>) => ({ name, class_type: 'http-poster', output_mapping: {}, configurations });

describe('http-poster', () => {
  test("EDGELESS's http-poster chain: the counter's values are POSTed as bodies 1, 2, 3, in order", async () => {
    const spec = loadWorkflowFile(join(REPO, 'examples', 'workflows', 'http-poster', 'workflow.json')) as { resources: Array<{ configurations: Record<string, string> }> };
    // the example names EDGELESS's port; the test's server has its own
    assert.equal(spec.resources[0]!.configurations.url, 'http://localhost:10000/');
    spec.resources[0]!.configurations.url = `http://127.0.0.1:${server.port}/counter`;
    const r = await alice.start(spec, 'poster');
    assert.equal(r.status, 201, r.body.toString());
    const got = await bodies('/counter', 3);
    assert.deepEqual(got.slice(0, 3), ['1', '2', '3']);
    assert.equal((await alice.stop(r.json().workflow_id)).status, 200);
  });

  test('decode_base64 posts the decoded bytes; bad base64 posts an empty body, as in EDGELESS', async () => {
    const CASTER = `export function handle_init() { for (const m of ['aGVsbG8=', 'not base64!', 'd29ybGQ=']) edgeless.cast('out', m); }`;
    const r = await alice.start({ functions: [jsFunction('caster', CASTER, { out: 'poster' })], resources: [poster('poster', { url: `http://127.0.0.1:${server.port}/b64`, decode_base64: 'TRUE' })] }, 'b64');
    assert.equal(r.status, 201, r.body.toString());
    assert.deepEqual(await bodies('/b64', 3), ['hello', '', 'world']);
    await alice.stop(r.json().workflow_id);
  });

  test('a call gets NoReply at once and posts nothing', async () => {
    const CALLER = `export function handle_init() { const r = edgeless.call('out', 'by call'); edgeless.cast('out', 'call returned ' + r.type); }`;
    const r = await alice.start({ functions: [jsFunction('caller', CALLER, { out: 'poster' })], resources: [poster('poster', { url: `http://127.0.0.1:${server.port}/call` })] }, 'call');
    assert.equal(r.status, 201, r.body.toString());
    assert.deepEqual(await bodies('/call', 1), ['call returned noreply']);
    await alice.stop(r.json().workflow_id);
  });

  describe('bad configurations are refused at start, by name, and nothing half-starts', () => {
    const cases: Array<[string, () => Record<string, string>, RegExp]> = [
      ['a host not in egress_hosts', () => ({ url: `http://127.0.0.1:${elsewhere.port}/` }), /resource 'poster' \(http-poster\): url: host 127\.0\.0\.1:\d+ is not in the node's workflows\.egress_hosts/],
      ['another host name for the same server', () => ({ url: `http://localhost:${server.port}/` }), /url: host localhost:\d+ is not in the node's workflows\.egress_hosts/],
      ['no url', () => ({}), /resource 'poster' \(http-poster\): url '' is not a valid URL/],
      ['not a URL', () => ({ url: 'localhost:10000' }), /resource 'poster' \(http-poster\): url 'localhost:10000' must be an http:\/\/ or https:\/\/ URL/],
      ['user information in the url', () => ({ url: `http://me:secret@127.0.0.1:${server.port}/` }), /url '127\.0\.0\.1:\d+' must not carry user information/],
    ];
    for (const [name, configurations, message] of cases) {
      test(name, async () => {
        const spec = { functions: [jsFunction('counter', `export function handle_init() { edgeless.cast('output', 'x'); }`, { output: 'poster' })], resources: [poster('poster', configurations())] };
        const r = await alice.start(spec, 'bad-poster');
        assert.equal(r.status, 400, r.body.toString());
        assert.match(r.json().error.message, message);
        assert.deepEqual((await alice.list()).json().workflows.filter((w: { name: string }) => w.name === 'bad-poster'), []);
      });
    }
    test('nothing reached the server that is not allowed', () => {
      assert.deepEqual(elsewhere.bodies('/'), []);
    });
  });
});
