// Readiness as CCF's node frontend gives it: /node/state answers (PartOfNetwork) only once the node is ready,
// i.e. its workflows are restored; /node/ready/app and /node/ready/gov say 503 until then. The node is held
// not ready for as long as the test likes: a stored workflow's handle_init makes an http-egress call that a
// test server answers only when told.
import assert from 'node:assert/strict';
import { type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configTemplate } from '../../src/node/config.js';
import { after, before, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';
import { jsFunction, workflowClient } from '../helpers/workflows.js';

let node: TestNode;
let target: Server;
let hold = false;
const held: ServerResponse[] = [];
const release = () => {
  hold = false;
  for (const res of held.splice(0)) res.end('ok');
};

before(async () => {
  target = createServer((_req, res) => (hold ? held.push(res) : res.end('ok')));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
  const port = (target.address() as AddressInfo).port;
  node = await startNode({ users: ['alice'], config: (c) => (c.workflows = { egress_hosts: [`127.0.0.1:${port}`], call_timeout_ms: 120000, event_timeout_ms: 120000 }) });
});
after(async () => {
  release();
  await node.cleanup();
  target.closeAllConnections();
  target.close();
});

const anon = (p: string) => https(`https://127.0.0.1:${node.ports.https}${p}`, { ca: node.ca });

test('a ready node: /node/state as CCF gives it, and the ready probes say 204', async () => {
  const state = await anon('/node/state');
  assert.equal(state.status, 200, state.body.toString());
  const body = state.json();
  assert.deepEqual(Object.keys(body).sort(), ['last_signed_seqno', 'node_id', 'startup_seqno', 'state', 'stop_notice']);
  assert.equal(body.state, 'PartOfNetwork');
  assert.match(body.node_id, /^[0-9a-f]{64}$/);
  assert.equal(body.stop_notice, false);
  assert.equal(typeof body.last_signed_seqno, 'number');
  assert.ok(body.startup_seqno > 0, 'a node initialised by tessera init resumes after its first transactions');
  assert.equal((await anon('/node/ready/app')).status, 204);
  assert.equal((await anon('/node/ready/gov')).status, 204);
});

test('after a restart, 503 until the workflows are restored, then PartOfNetwork', async () => {
  const alice = workflowClient(node, 'alice');
  const port = (target.address() as AddressInfo).port;
  const request = JSON.stringify({ method: 'Get', protocol: 'HTTP', host: `127.0.0.1:${port}`, path: '/init', headers: {}, body: null });
  const INIT = `export function handle_init() { edgeless.call('egress', ${JSON.stringify(request)}); }\nexport function handle_cast() {}`;
  const w = await alice.start({ functions: [jsFunction('slow-init', INIT, { egress: 'egress' })], resources: [{ name: 'egress', class_type: 'http-egress', output_mapping: {}, configurations: {} }] }, 'slow-init');
  assert.equal(w.status, 201, w.body.toString());

  hold = true;
  await node.restart();
  // The listeners are open ('tessera ready'), and the restore waits on the held call.
  const state = await anon('/node/state');
  assert.equal(state.status, 503, state.body.toString());
  assert.equal(state.headers['retry-after'], '1');
  assert.match(state.json().error.message, /starting/);
  assert.equal((await anon('/node/ready/app')).status, 503);
  assert.equal((await anon('/node/ready/gov')).status, 503);
  assert.equal((await anon('/v1/health')).status, 200, 'liveness is not readiness');

  release();
  for (let i = 0; ; i++) {
    const r = await anon('/node/state');
    if (r.status === 200) {
      assert.equal(r.json().state, 'PartOfNetwork');
      break;
    }
    assert.ok(i < 400, 'the node became ready');
    await new Promise((res) => setTimeout(res, 25));
  }
  assert.equal((await anon('/node/ready/app')).status, 204);
  assert.match(node.logs(), /node ready/);
});

test("tessera.toml's comments name /node and /metrics, and both answer", async () => {
  // What tessera init writes (the test helper rewrites the file without its comments).
  const toml = configTemplate();
  assert.match(toml, /\/node/);
  assert.match(toml, /\/metrics/);
  assert.equal((await anon('/node/state')).status, 200);
  const alice = node.identity('alice');
  const metrics = await https(`https://127.0.0.1:${node.ports.https}/metrics`, { ...alice, ca: node.ca });
  assert.equal(metrics.status, 403, 'it answers: a user is refused, members and the service identity read it');
  const service = await https(`https://127.0.0.1:${node.ports.https}/metrics`, { ...node.service, ca: node.ca });
  assert.equal(service.status, 200);
});
