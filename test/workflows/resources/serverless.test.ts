// serverless (EDGELESS edgeless_node/src/resources/serverless.rs): classes the operator defines in
// workflows.resources.serverless. EDGELESS's examples/serverless/workflow-serverless.json (here workflow.json in
// examples/workflows/serverless/, the counter in JS): counter → `double` → file-log, against a local
// OpenFaaS-style function that doubles the number; a non-200 goes to `err` in EDGELESS's words; a call gets
// NoReply; a function_url whose host is not in workflows.egress_hosts is refused when a workflow starts it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadWorkflowFile } from '../../../src/cli/commands/workflow.js';
import { type BodyServer, startBodyServer } from '../../helpers/body-server.js';
import { REPO, type TestNode, startNode } from '../../helpers/cli.js';
import { jsFunction, workflowClient } from '../../helpers/workflows.js';

let fn: BodyServer;
let elsewhere: BodyServer;
let node: TestNode;
let alice: ReturnType<typeof workflowClient>;

before(async () => {
  fn = await startBodyServer((path, body) => (path === '/double' ? { status: 200, body: String(2 * Number(body)) } : { status: 503, body: 'busy' }));
  elsewhere = await startBodyServer();
  node = await startNode({
    users: ['alice'],
    config: (c) =>
      (c.workflows = {
        egress_hosts: [`127.0.0.1:${fn.port}`],
        resources: {
          serverless: [
            { class_type: 'double', version: '0.1', function_url: `http://127.0.0.1:${fn.port}/double` },
            { class_type: 'broken', function_url: `http://127.0.0.1:${fn.port}/broken` },
            { class_type: 'elsewhere', function_url: `http://127.0.0.1:${elsewhere.port}/` },
          ],
        },
      }),
  });
  alice = workflowClient(node, 'alice');
});
after(async () => {
  await node?.cleanup();
  await fn?.close();
  await elsewhere?.close();
});

/** The lines of a file-log file of alice's workflow, once there are at least `n`. */
async function lines(workflow: string, file: string, n: number): Promise<string[]> {
  for (let i = 0; i < 600; i++) {
    const r = await alice.file(workflow, file);
    const got = r.status === 200 ? (r.json().content as string).split('\n').filter(Boolean) : [];
    if (got.length >= n) return got;
    await new Promise((res) => setTimeout(res, 25));
  }
  assert.fail(`${workflow}/${file}: fewer than ${n} lines`);
}

const TIMESTAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 (.*)$/;

describe('serverless', () => {
  test("EDGELESS's serverless example: counter → double → file-log writes 86, 88, 90", async () => {
    const spec = loadWorkflowFile(join(REPO, 'examples', 'workflows', 'serverless', 'workflow.json'));
    const r = await alice.start(spec, 'double');
    assert.equal(r.status, 201, r.body.toString());
    const got = await lines('double', 'my-out.log', 3);
    assert.deepEqual(
      got.slice(0, 3).map((l) => l.match(TIMESTAMPED)?.[1]),
      ['86', '88', '90'],
    );
    assert.deepEqual(fn.bodies('/double').slice(0, 3), ['43', '44', '45']);
    assert.equal((await alice.file('double', 'my-err.log')).json().content, '', 'nothing went to err');
    assert.equal((await alice.stop(r.json().workflow_id)).status, 200);
  });

  test('a status other than 200 casts the error text to err; a call gets NoReply at once', async () => {
    const SENDER = `export function handle_init() { const r = edgeless.call('fn', '1'); edgeless.cast('fn', 'cast after a call that returned ' + r.type); }`;
    const spec = {
      functions: [jsFunction('sender', SENDER, { fn: 'fn' })],
      resources: [
        { name: 'fn', class_type: 'broken', output_mapping: { out: 'log', err: 'log' }, configurations: {} },
        { name: 'log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'all.log' } },
      ],
    };
    const r = await alice.start(spec, 'broken');
    assert.equal(r.status, 201, r.body.toString());
    const [line] = await lines('broken', 'all.log', 1);
    assert.match(line!, new RegExp(`^error when calling serverless function at http://127\\.0\\.0\\.1:${fn.port}/broken for resource [0-9a-f-]{36}: status 503 Service Unavailable returned$`));
    // the call posted nothing; the cast did
    assert.deepEqual(fn.bodies('/broken'), ['cast after a call that returned noreply']);
    await alice.stop(r.json().workflow_id);
  });

  describe('bad input is refused at start, by name, and nothing half-starts', () => {
    test("a serverless class whose function_url's host is not in egress_hosts", async () => {
      const spec = { functions: [jsFunction('counter', `export function handle_init() { edgeless.cast('output', '1'); }`, { output: 'fn' })], resources: [{ name: 'fn', class_type: 'elsewhere', output_mapping: {}, configurations: {} }] };
      const r = await alice.start(spec, 'bad-serverless');
      assert.equal(r.status, 400, r.body.toString());
      assert.match(r.json().error.message, /resource 'fn' \(serverless class 'elsewhere'\): function_url of workflows\.resources\.serverless: host 127\.0\.0\.1:\d+ is not in the node's workflows\.egress_hosts/);
      assert.deepEqual((await alice.list()).json().workflows.filter((w: { name: string }) => w.name === 'bad-serverless'), []);
      assert.deepEqual(elsewhere.bodies('/'), []);
    });

    test('a class no entry defines is not offered; the configured ones are listed', async () => {
      const r = await alice.start({ functions: [], resources: [{ name: 'fn', class_type: 'triple', output_mapping: {}, configurations: {} }] }, 'bad-class');
      assert.equal(r.status, 400);
      assert.match(r.json().error.message, /resource 'fn' has class 'triple', which this node does not offer; it offers .*\bdouble, broken, elsewhere\b/);
    });
  });
});
