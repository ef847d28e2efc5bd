import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import type { TestNode } from '../helpers/cli.js';
import { type TestCluster, as, startCluster, url } from '../helpers/cluster.js';
import { https } from '../helpers/https-client.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../helpers/workflows.js';

// Workflows on a three-node cluster (real PostgreSQL and NATS): each workflow is placed on one live node
// that fits its annotations, requests for it through any node reach that node, and when that node is
// SIGKILLed the workflow moves to another and continues from its last sync; the killed node, back, does not
// run it a second time. Nodes see who is alive through PostgreSQL advisory locks (docs/cluster.md).

let cluster: TestCluster;
let nodes: TestNode[];

before(async () => {
  cluster = await startCluster({ nodes: 3, users: ['alice', 'bob'], settings: ['log.level=warn'] });
  nodes = cluster.nodes;
});
after(() => cluster?.cleanup());

/** A counter that syncs after each event and answers its count; its route is its own (wf_id). */
const COUNTER = `${HTTP_REPLY}
let count = 0;
export function handle_init(payload, state) { count = state ? JSON.parse(state).count : 0; }
export function handle_call(src, msg) { count++; edgeless.sync(JSON.stringify({ count })); return reply(200, String(count)); }`;
const counter = (annotations: Record<string, string> = {}) => ({ functions: [jsFunction('counter', COUNTER, {}, annotations)], resources: [ingress('counter', { host: '127.0.0.1', method: 'POST', wf_id: 'true' })] });

const bump = (node: TestNode, id: string) => workflowClient(node).ingress(`/bump?wf_id=${id}`, 'x');
const nodeIdOf = async (node: TestNode) => (await https(url(node, '/v1/workflow-node'), as(node, 'alice'))).json().node_id as string;

/** Retries `probe` (up to 30 s: a move takes a few seconds) until it gives a value. */
async function until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Starts a workflow through `through` and waits until it runs: its id, the node that runs it, and another node. */
async function startPlaced(through: TestNode, spec: unknown, name: string): Promise<{ id: string; host: TestNode; other: TestNode }> {
  const started = await workflowClient(through).start(spec, name);
  assert.equal(started.status, 201, started.body.toString());
  const id = started.json().workflow_id as string;
  const hostId = await until(async () => {
    const r = (await workflowClient(through).inspect(id)).json();
    return r.functions.length === 1 ? (r.node_id as string) : undefined;
  }, `${name} to run`);
  const ids = await Promise.all(nodes.map(nodeIdOf));
  const host = nodes[ids.indexOf(hostId)];
  return { id, host, other: nodes.find((n) => n !== host)! };
}

/** Function instances running on `node` (EDGELESS's function_count gauge at GET /metrics). */
async function instancesOn(node: TestNode): Promise<number> {
  const r = await https(url(node, '/metrics'), { ...node.service, ca: node.ca });
  assert.equal(r.status, 200);
  let sum = 0;
  for (const m of r.body.toString().matchAll(/^function_count\{[^}]*\} (\S+)$/gm)) sum += Number(m[1]);
  return sum;
}

test('a workflow started through one node runs on the node its annotations name, and any node reaches, inspects and stops it', async () => {
  const [a, b, c] = nodes;
  const target = await nodeIdOf(c);
  const started = await workflowClient(a).start(counter({ node_id_match_any: target }), 'pinned');
  assert.equal(started.status, 201, started.body.toString());
  const id = started.json().workflow_id;
  const seen = await until(async () => {
    const r = await workflowClient(b).inspect(id);
    return r.status === 200 && r.json().functions.length === 1 ? r.json() : undefined;
  }, 'the pinned workflow to be running');
  assert.equal(seen.node_id, target, 'placed on the node node_id_match_any names');
  assert.equal(seen.functions[0].name, 'counter', 'inspected through another node: its instances, as the host sees them');
  assert.equal(await instancesOn(c), 1, 'its instance runs on the named node');
  assert.equal((await instancesOn(a)) + (await instancesOn(b)), 0, 'and on no other');
  const answers = [];
  for (const via of [a, b, c, a]) answers.push((await bump(via, id)).body.toString());
  assert.deepEqual(answers, ['1', '2', '3', '4'], 'requests through every node reach its one instance');
  assert.equal((await workflowClient(b).stop(id)).status, 200);
  await until(async () => ((await instancesOn(c)) === 0 ? true : undefined), 'the host to stop it');
  assert.equal((await bump(a, id)).status, 404, 'stopped everywhere');
});

test('annotations that no live node satisfies are refused, naming the annotation, and nothing is stored', async () => {
  const wf = workflowClient(nodes[1]);
  const r = await wf.start(counter({ label_match_all: 'gpu' }), 'needs-gpu');
  assert.equal(r.status, 400, r.body.toString());
  assert.match(r.json().error.message, /no valid node found among the 3 live node\(s\)/);
  assert.match(r.json().error.message, /label_match_all asks for 'gpu'/);
  for (const node of nodes) assert.deepEqual((await workflowClient(node).list()).json().workflows, [], 'no workflow is stored');
});

test('SIGKILL of the node that runs workflows: each moves to one other node and continues from its last sync; the killed node, back, runs none of them twice', async () => {
  // Four counters spread over the three nodes (fewest workflows first): the killed node hosts at least one.
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await workflowClient(nodes[i % 3]).start(counter(), `counter-${i}`);
    assert.equal(r.status, 201, r.body.toString());
    ids.push(r.json().workflow_id);
  }
  const hosts = new Map<string, string>();
  for (const id of ids) {
    hosts.set(id, await until(async () => {
      const r = (await workflowClient(nodes[0]).inspect(id)).json();
      return r.functions.length === 1 ? (r.node_id as string) : undefined;
    }, `counter ${id} to run`));
  }
  assert.equal(new Set(hosts.values()).size, 3, 'spread over the three nodes');
  for (const id of ids) for (let n = 1; n <= 3; n++) assert.equal((await bump(nodes[n % 3], id)).body.toString(), String(n));

  const victim = nodes[0];
  const victimId = await nodeIdOf(victim);
  const moving = ids.filter((id) => hosts.get(id) === victimId);
  assert.ok(moving.length >= 1);
  await victim.stop('SIGKILL');
  // Two nodes race to adopt each orphan; each goes on from its synced 3, through either survivor.
  for (const id of moving) {
    const next = await until(async () => {
      const r = await bump(nodes[1], id);
      return r.status === 200 ? r.body.toString() : undefined;
    }, `counter ${id} to answer again after its node died`);
    assert.equal(next, '4', 'continued from its last sync, not from 0');
    assert.equal((await bump(nodes[2], id)).body.toString(), '5');
    const now = (await workflowClient(nodes[2]).inspect(id)).json();
    assert.ok(now.node_id !== victimId && [await nodeIdOf(nodes[1]), await nodeIdOf(nodes[2])].includes(now.node_id), 'it runs on a live node');
  }
  assert.equal((await instancesOn(nodes[1])) + (await instancesOn(nodes[2])), 4, 'of the two nodes racing to adopt, exactly one runs each workflow');

  await victim.restart();
  // Its next look at the store has passed once it answers: give it a few of them, then count.
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(await instancesOn(victim), 0, 'the node that came back runs none of the workflows that moved away');
  assert.equal((await instancesOn(nodes[1])) + (await instancesOn(nodes[2])), 4);
  for (const id of moving) assert.equal((await bump(victim, id)).body.toString(), '6', 'and reaches them where they run now');
  for (const id of ids) assert.equal((await workflowClient(victim).stop(id)).status, 200);
});

/** Counts asynchronous events (each takes 150 ms, then syncs); a GET answers the count. */
const EVENT_COUNTER = `${HTTP_REPLY}
let count = 0;
export function handle_init(payload, state) { count = state ? JSON.parse(state).count : 0; }
export function handle_cast(src, msg) { const until = Date.now() + 150; while (Date.now() < until) {} count++; edgeless.sync(JSON.stringify({ count })); }
export function handle_call(src, msg) { return reply(200, String(count)); }`;

test('asynchronous events accepted while the host dies are handled, at least once, where the workflow moves to', async () => {
  const spec = {
    functions: [jsFunction('events', EVENT_COUNTER)],
    resources: [ingress('events', { host: '127.0.0.1', method: 'GET', wf_id: 'true' }), { ...ingress('events', { host: '127.0.0.1', method: 'POST', wf_id: 'true', async: 'true' }), name: 'ingress-async' }],
  };
  const { id, host: victim, other } = await startPlaced(nodes[0], spec, 'event-counter');
  const count = async (through: TestNode) => {
    const r = await workflowClient(through).ingress(`/count?wf_id=${id}`);
    return r.status === 200 ? Number(r.body.toString()) : undefined;
  };

  // 20 events, each answered OK once the queue holds it; the host takes 3 s to handle them all.
  const EVENTS = 20;
  for (let i = 0; i < EVENTS; i++) {
    const r = await workflowClient(other).ingress(`/bump?wf_id=${id}`, 'x');
    assert.equal(r.status, 200, r.body.toString());
  }
  await until(async () => ((await count(victim)) ?? 0) >= 3 || undefined, 'the host to handle a few events');
  await victim.stop('SIGKILL');
  const seen = await until(async () => {
    const n = await count(other);
    return n !== undefined && n >= EVENTS ? n : undefined;
  }, 'every accepted event to be handled after the move');
  // At least once: an event handled and synced just as its node died, before its acknowledgement, runs again.
  assert.ok(seen <= EVENTS + 8, `counted ${seen} for ${EVENTS} events`);
  await victim.restart();
  assert.equal((await workflowClient(other).stop(id)).status, 200);
});

test('what nodes send each other through NATS about workflows is sealed: the server sees no request body', async () => {
  const seen: Buffer[] = [];
  const requests: Array<{ subject: string; data: Uint8Array }> = [];
  const spy = await connect({ servers: cluster.nats.url });
  spy.subscribe('>', {
    callback: (_err, m) => {
      seen.push(Buffer.from(m.data));
      if (/\.wf\.ingress\./.test(m.subject)) requests.push({ subject: m.subject, data: m.data });
    },
  });
  try {
    const { id, other: elsewhere } = await startPlaced(nodes[0], counter(), 'sealed-counter');
    const marker = `private-${Date.now()}-body`;
    const r = await workflowClient(elsewhere).ingress(`/bump?wf_id=${id}`, marker);
    assert.equal(r.status, 200, r.body.toString());
    await spy.flush();
    assert.ok(seen.length > 0, 'the spy saw the forwarded request');
    const encoded = Buffer.from(marker).toString('base64');
    assert.ok(!seen.some((b) => b.includes(marker) || b.includes(encoded)), 'no message through NATS holds the request body, plain or base64');
    // Whoever runs the NATS server can replay a request it saw: the host answers each request once.
    assert.equal(requests.length, 1, 'one forwarded ingress request');
    await assert.rejects(spy.request(requests[0].subject, requests[0].data, { timeout: 1500 }), 'a replayed request gets no answer');
    assert.equal((await workflowClient(elsewhere).stop(id)).status, 200);
  } finally {
    await spy.close();
  }
});

/** Arms a delayed cast to itself on each call, and counts the casts that fired (synced); answers the count. */
const TIMER = `${HTTP_REPLY}
let fired = 0;
export function handle_init(payload, state) { fired = state ? JSON.parse(state).fired : 0; }
export function handle_call(src, msg) { if (JSON.parse(msg).method === 'Post') edgeless.delayed_cast(3000, 'self', 'tick'); return reply(200, String(fired)); }
export function handle_cast(src, msg) { fired++; edgeless.sync(JSON.stringify({ fired })); }`;

test('a delayed cast pending on a node that dies fires on the node the workflow moves to', async () => {
  const spec = { functions: [jsFunction('timer', TIMER)], resources: [ingress('timer', { host: '127.0.0.1', wf_id: 'true' })] };
  const { id, host: victim, other } = await startPlaced(nodes[1], spec, 'timer');
  const armed = await workflowClient(victim).ingress(`/arm?wf_id=${id}`, 'arm');
  assert.deepEqual([armed.status, armed.body.toString()], [200, '0']);
  // The host dies before the cast is due (3 s): the cast fires where the workflow moves to.
  await victim.stop('SIGKILL');
  const fired = await until(async () => {
    const r = await workflowClient(other).ingress(`/count?wf_id=${id}`);
    return r.status === 200 && r.body.toString() === '1' ? true : undefined;
  }, 'the delayed cast to fire after the move');
  assert.ok(fired);
  await victim.restart();
  assert.equal((await workflowClient(other).stop(id)).status, 200);
});

test('two users starting workflows with the same route through two nodes at once: one gets it, the other a conflict', async () => {
  const spec = (name: string) => ({ functions: [jsFunction('f', COUNTER)], resources: [ingress('f', { host: 'race.example', method: 'POST' })], name });
  for (let round = 0; round < 3; round++) {
    const [a, b] = await Promise.all([workflowClient(nodes[0], 'alice').start(spec('a'), `race-a-${round}`), workflowClient(nodes[1], 'bob').start(spec('b'), `race-b-${round}`)]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [201, 409], `round ${round}: ${a.body.toString()} / ${b.body.toString()}`);
    const winner = a.status === 201 ? { client: workflowClient(nodes[0], 'alice'), id: a.json().workflow_id } : { client: workflowClient(nodes[1], 'bob'), id: b.json().workflow_id };
    assert.equal((await winner.client.stop(winner.id)).status, 200);
  }
});
