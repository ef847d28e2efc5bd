// redis (EDGELESS edgeless_node/src/resources/redis.rs) against a real redis-server: EDGELESS's
// counter-with-redis example (examples/redis/workflow.json, here examples/workflows/redis-counter/ with the
// counter in JS) counts up in the server; a function GETs by call; add-workflow-id; keys carry the owner's
// tenant prefix, so tenants never share them; bad urls are refused at start and nothing half-starts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadWorkflowFile } from '../../../src/cli/commands/workflow.js';
import { redisTenantPrefix } from '../../../src/workflows/resources/redis.js';
import { REPO, type TestNode, startNode } from '../../helpers/cli.js';
import { freePort, type RedisServer, startRedis } from '../../helpers/redis-server.js';
import { jsFunction, workflowClient } from '../../helpers/workflows.js';

let server: RedisServer;
let other: RedisServer;
let closedPort: number;
let node: TestNode;
let alice: ReturnType<typeof workflowClient>;
let bob: ReturnType<typeof workflowClient>;

before(async () => {
  server = await startRedis();
  other = await startRedis();
  closedPort = await freePort();
  node = await startNode({
    users: ['alice', 'bob'],
    config: (c) => (c.workflows = { resources: { redis: { allowed_urls: [`${server.url}/`, `redis://127.0.0.1:${closedPort}`] } } }),
  });
  alice = workflowClient(node, 'alice');
  bob = workflowClient(node, 'bob');
});
after(async () => {
  await node?.cleanup();
  await server?.stop();
  await other?.stop();
});

/** The example as written, pointed at the test's server (the file names redis://127.0.0.1:6379/). */
function example(file: string, url = `${server.url}/`) {
  const spec = loadWorkflowFile(join(REPO, 'examples', 'workflows', 'redis-counter', file)) as { resources: Array<{ configurations: Record<string, string> }> };
  assert.equal(spec.resources[0]!.configurations.url, 'redis://127.0.0.1:6379/');
  spec.resources[0]!.configurations.url = url;
  return spec;
}

/** The owner's principal id, as the node records it. */
async function ownerOf(client: typeof alice, workflowId: string): Promise<string> {
  return (await client.inspect(workflowId)).json().owner as string;
}

/** Polls the server until `ok` holds for the key's value; the values seen, in order, without repeats. */
async function watch(key: string, ok: (seen: string[]) => boolean): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < 600; i++) {
    const v = await server.client.get(key);
    if (v !== null && seen.at(-1) !== v) seen.push(v);
    if (ok(seen)) return seen;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`key ${key}: saw only ${JSON.stringify(seen)}`);
}

async function clients(): Promise<number> {
  return (await server.client.sendCommand(['CLIENT', 'LIST'])).toString().trim().split('\n').length;
}

describe('redis', () => {
  test("EDGELESS's counter with redis: the stored value counts up from 43, under the owner's tenant prefix", async () => {
    const before = await clients();
    const r = await alice.start(example('workflow.json'), 'counter');
    assert.equal(r.status, 201, r.body.toString());
    const id = r.json().workflow_id as string;
    const owner = await ownerOf(alice, id);
    const key = `${redisTenantPrefix(owner)}example-redis`;
    const seen = await watch(key, (s) => s.includes('45'));
    // each value is the last plus one: SETs reach the server in the order cast
    const numbers = seen.map(Number);
    assert.ok(numbers[0]! >= 43, String(seen));
    numbers.slice(1).forEach((n, i) => assert.equal(n, numbers[i]! + 1, String(seen)));
    // the bare key EDGELESS would use is not touched
    assert.equal(await server.client.get('example-redis'), null);
    assert.equal(await clients(), before + 1, 'one connection per resource instance');
    assert.equal((await alice.stop(id)).status, 200);
    // the connection is closed when the workflow stops
    await alice.until(async () => ((await clients()) === before ? true : undefined), 'the connection closed');
  });

  test('add-workflow-id puts the workflow id after the tenant prefix', async () => {
    const r = await alice.start(example('workflow-alt.json'), 'counter-alt');
    assert.equal(r.status, 201, r.body.toString());
    const id = r.json().workflow_id as string;
    const key = `${redisTenantPrefix(await ownerOf(alice, id))}${id}:example-redis`;
    await watch(key, (s) => s.includes('44'));
    assert.equal((await alice.stop(id)).status, 200);
  });

  // A function GETs by call: the value of a key, Err for a missing one; bob's same workflow on the same
  // server sees none of alice's keys.
  const READER = `
export function handle_init() { edgeless.cast('self', 'go'); }
export function handle_cast() {
  const got = edgeless.call('redis', 'preset');
  const missing = edgeless.call('redis', 'no-such-key');
  edgeless.cast('report', JSON.stringify([got, missing]));
}`;
  const readerSpec = () => ({
    functions: [jsFunction('reader', READER, { redis: 'redis', report: 'report' })],
    resources: [
      { name: 'redis', class_type: 'redis', output_mapping: {}, configurations: { url: server.url } },
      { name: 'report', class_type: 'redis', output_mapping: {}, configurations: { url: server.url, key: 'report' } },
    ],
  });

  test("a call GETs the key named by the payload (a missing key is Err); another tenant's keys are out of reach", async () => {
    // alice's key, written straight to the server under her prefix, before her workflow runs
    const a = await alice.start({ functions: [], resources: [] }, 'who');
    const aliceOwner = await ownerOf(alice, a.json().workflow_id);
    await alice.stop(a.json().workflow_id);
    await server.client.set(`${redisTenantPrefix(aliceOwner)}preset`, 'hello');

    const ra = await alice.start(readerSpec(), 'reader');
    assert.equal(ra.status, 201, ra.body.toString());
    const rb = await bob.start(readerSpec(), 'reader');
    assert.equal(rb.status, 201, rb.body.toString());
    const bobOwner = await ownerOf(bob, rb.json().workflow_id);
    assert.notEqual(redisTenantPrefix(aliceOwner), redisTenantPrefix(bobOwner));

    const [aliceReport] = await watch(`${redisTenantPrefix(aliceOwner)}report`, (s) => s.length > 0);
    assert.deepEqual(JSON.parse(aliceReport!), [{ type: 'reply', data: 'hello' }, { type: 'err' }]);
    const [bobReport] = await watch(`${redisTenantPrefix(bobOwner)}report`, (s) => s.length > 0);
    assert.deepEqual(JSON.parse(bobReport!), [{ type: 'err' }, { type: 'err' }]);
    await alice.stop(ra.json().workflow_id);
    await bob.stop(rb.json().workflow_id);
  });

  describe('bad configurations are refused at start, by name, and nothing half-starts', () => {
    const cases: Array<[string, () => Record<string, string>, RegExp]> = [
      ['a server not allowed', () => ({ url: other.url, key: 'k' }), /resource 'redis' \(redis\): url redis:\/\/127\.0\.0\.1:\d+\/0 is not one of the node's workflows\.resources\.redis\.allowed_urls/],
      ['an allowed server but another database', () => ({ url: `${server.url}/1`, key: 'k' }), /url redis:\/\/127\.0\.0\.1:\d+\/1 is not one of the node's workflows\.resources\.redis\.allowed_urls/],
      ['another scheme', () => ({ url: `rediss://127.0.0.1:${server.port}`, key: 'k' }), /url rediss:\/\/127\.0\.0\.1:\d+\/0 is not one of/],
      ['not a redis url', () => ({ url: `http://127.0.0.1:${server.port}` }), /resource 'redis' \(redis\): url is not a redis:\/\/ or rediss:\/\/ URL/],
      ['no url', () => ({ key: 'k' }), /resource 'redis' \(redis\): configuration 'url' is missing/],
      ['an allowed server that is not running', () => ({ url: `redis://127.0.0.1:${closedPort}`, key: 'k' }), /resource 'redis' \(redis\): cannot connect to redis:\/\/127\.0\.0\.1:\d+\/0: .*ECONNREFUSED/],
    ];
    for (const [name, configurations, message] of cases) {
      test(name, async () => {
        const before = await clients();
        // a good redis resource starts first; the bad one must undo it
        const spec = {
          functions: [jsFunction('counter', 'export function handle_cast() {}', { output: 'redis' })],
          resources: [
            { name: 'good', class_type: 'redis', output_mapping: {}, configurations: { url: server.url, key: 'k' } },
            { name: 'redis', class_type: 'redis', output_mapping: {}, configurations: configurations() },
          ],
        };
        const r = await alice.start(spec, 'bad-redis');
        assert.equal(r.status, 400, r.body.toString());
        assert.match(r.json().error.message, message);
        assert.deepEqual((await alice.list()).json().workflows.filter((w: { name: string }) => w.name === 'bad-redis'), []);
        await alice.until(async () => ((await clients()) === before ? true : undefined), 'the good resource disconnected');
      });
    }
  });
});
