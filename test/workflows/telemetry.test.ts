// Lifecycle telemetry as EDGELESS emits it (edgeless_node/src/base_runtime/function_instance_runner.rs,
// edgeless_telemetry/src/prometheus_target.rs): structured log lines naming the event, and Prometheus's
// function_count, execution_times and transfer_times at GET /metrics. Also the telemetry_log host call.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../helpers/workflows.js';

let node: TestNode;
let alice: ReturnType<typeof workflowClient>;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['op'], config: (c) => (c.log = { level: 'debug' }) });
  alice = workflowClient(node, 'alice');
});
after(() => node.cleanup());

function scrape(as: 'op' | 'alice' = 'op') {
  const base = join(identitiesDirOf(node.dir), as);
  const id = { cert: readFileSync(join(base, 'cert.pem'), 'utf8'), key: readFileSync(join(base, 'key.pem'), 'utf8'), ca: node.ca, ...(as === 'alice' ? { token: node.identity('alice').token } : {}) };
  return https(`https://127.0.0.1:${node.ports.https}/metrics`, id);
}

/** The value of the one sample of `name` whose labels include all of `labels`, or 0 if none. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const found = text.split('\n').filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  assert.ok(found.length <= 1, `more than one ${name} sample for ${JSON.stringify(labels)}:\n${found.join('\n')}`);
  return found.length ? Number(found[0].split(' ').pop()) : 0;
}

const lines = () => node.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);

// Counts to 5 by casting to itself, then answers calls from the ingress with the count.
const COUNTER = `${HTTP_REPLY}
let n = 0;
export function handle_init() { edgeless.cast('self', 'tick'); }
export function handle_cast(src, msg) { if (++n < 5) edgeless.cast('self', 'tick'); }
export function handle_call(src, msg) { return reply(200, String(n)); }`;
const IDLE = 'export function handle_cast() {}';

describe('lifecycle telemetry', () => {
  test('/metrics: function_count goes up and down, execution_times counts every event by CAST/CALL, transfer_times per instance', async () => {
    const before = (await scrape()).body.toString();
    const nodeId = /node_id="([0-9a-f-]{36})"/.exec(before)?.[1];
    const started = await alice.start({ functions: [jsFunction('counter', COUNTER), jsFunction('idle', IDLE)], resources: [ingress('counter', { host: 'count.example' })] }, 'metered');
    assert.equal(started.status, 201, started.body.toString());
    const wid = started.json().workflow_id;
    const counter = await alice.until(async () => {
      const f = ((await alice.inspect(wid)).json().functions as any[]).find((x) => x.name === 'counter');
      return f.events === 5 ? f : undefined;
    }, 'five casts handled');
    assert.equal((await alice.ingressAt('count.example', '/', { body: '' })).body.toString(), '5');

    const res = await scrape();
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = res.body.toString();
    assert.match(text, /# TYPE function_count gauge/);
    assert.match(text, /# TYPE execution_times histogram/);
    assert.match(text, /# TYPE transfer_times histogram/);
    const id = /node_id="([0-9a-f-]{36})"/.exec(text)![1];
    if (nodeId) assert.equal(id, nodeId);
    const jsCount = (t: string) => sample(t, 'function_count', { node_id: id, function_type: 'JS' });
    assert.equal(jsCount(text) - jsCount(before), 2, 'two JS instances running');
    const exec = { node_id: id, function_id: counter.instance_id, function_type: 'JS' };
    assert.equal(sample(text, 'execution_times_count', { ...exec, invocation_type: 'Cast' }), 5);
    assert.equal(sample(text, 'execution_times_count', { ...exec, invocation_type: 'Call' }), 1);
    assert.equal(sample(text, 'execution_times_bucket', { ...exec, invocation_type: 'Cast', le: '+Inf' }), 5);
    assert.ok(sample(text, 'execution_times_bucket', { ...exec, invocation_type: 'Cast', le: '1' }) <= 5);
    assert.equal(sample(text, 'transfer_times_count', { node_id: id, function_id: counter.instance_id }), 6, 'every event received: 5 casts, 1 call');

    const lifecycle = lines().filter((l) => l.function_id === counter.instance_id);
    const named = (event: string) => lifecycle.filter((l) => l.event === event);
    assert.equal(named('FunctionInstantiate').length, 1);
    assert.equal(named('FunctionInstantiate')[0].level, 30, 'instance-wide events at info');
    assert.equal(typeof named('FunctionInstantiate')[0].duration_ms, 'number');
    assert.equal(named('FunctionInit').length, 1);
    const done = named('FunctionInvocationCompleted');
    assert.deepEqual(done.map((l) => l.event_type).sort(), ['CALL', 'CAST', 'CAST', 'CAST', 'CAST', 'CAST']);
    assert.ok(done.every((l) => l.level === 20 && typeof l.duration_ms === 'number' && /^[0-9a-f]{32}$/.test(l.trace_id)), 'per-event lines at debug, with the trace');
    assert.equal(named('FunctionTransfer').length, 6);

    assert.equal((await alice.stop(wid)).status, 200);
    const afterStop = (await scrape()).body.toString();
    assert.equal(jsCount(afterStop), jsCount(before), 'function_count back down once stopped');
    assert.equal(sample(afterStop, 'execution_times_count', { ...exec, invocation_type: 'Cast' }), 0, "a stopped instance's series are gone");
    const exits = lines().filter((l) => l.function_id === counter.instance_id);
    assert.deepEqual(exits.filter((l) => l.event === 'FunctionExit').map((l) => l.status), ['Ok']);
    assert.equal(exits.filter((l) => l.event === 'FunctionStop').length, 1);
  });

  test('/metrics is for the operator: a user is refused', async () => {
    const r = await scrape('alice');
    assert.equal(r.status, 403);
    assert.match(r.json().error.message, /every tenant/);
  });

  test('a trap: FunctionExit CodeError, then the restarted instance is instantiated and initialised again', async () => {
    const BOOM = `export function handle_cast(src, msg) { if (msg === 'boom') throw new Error('boom'); }
export function handle_init() { edgeless.cast('self', 'boom'); edgeless.cast('self', 'fine'); }`;
    // A transient function so its restart does not re-run the init from stored state forever: the
    // restart budget stops it after a few traps.
    const started = await alice.start({ functions: [jsFunction('boom', BOOM, {}, { 'state-policy': 'transient' })], resources: [] }, 'trapping');
    assert.equal(started.status, 201, started.body.toString());
    const wid = started.json().workflow_id;
    const boomId = ((await alice.inspect(wid)).json().functions as any[])[0].instance_id;
    const events = await alice.until(async () => {
      const mine = lines().filter((l) => l.function_id === boomId);
      return mine.some((l) => l.event === 'FunctionExit') && mine.filter((l) => l.event === 'FunctionInit').length >= 2 ? mine : undefined;
    }, 'a trap and a restart');
    const exit = events.find((l) => l.event === 'FunctionExit')!;
    assert.equal(exit.status, 'CodeError');
    assert.equal(exit.during, 'cast');
    assert.match(exit.error, /boom/);
    assert.equal(exit.level, 40);
    const restarted = events.filter((l) => l.event === 'FunctionInstantiate');
    assert.equal(restarted[0].restart, undefined);
    assert.equal(restarted[1].restart, 1);
    await alice.stop(wid);
  });

  test('telemetry_log(level, msg) logs msg with the function name as target; a wrong type traps with a clear message', async () => {
    const LOGS = `export function handle_cast(src, msg) {
  if (msg === 'two') edgeless.telemetry_log(2, 'two arguments');
  if (msg === 'three') edgeless.telemetry_log(4, 'my-target', 'three arguments');
  if (msg === 'bad-level') edgeless.telemetry_log('info', 'x');
  if (msg === 'bad-msg') edgeless.telemetry_log(3, 'target', { not: 'a string' });
}
export function handle_init() { for (const m of ['two', 'three', 'bad-level', 'bad-msg']) edgeless.cast('self', m); }`;
    const started = await alice.start({ functions: [jsFunction('logger', LOGS, {}, { 'state-policy': 'transient' })], resources: [] }, 'logging');
    assert.equal(started.status, 201, started.body.toString());
    const wid = started.json().workflow_id;
    const mine = await alice.until(async () => {
      const l = lines().filter((x) => x.workflow === wid);
      return l.filter((x) => x.event === 'FunctionExit').length >= 2 ? l : undefined;
    }, 'two traps');
    const two = mine.find((l) => l.msg === 'two arguments')!;
    assert.deepEqual([two.level, two.target, two.function], [40, 'logger', 'logger']);
    const three = mine.find((l) => l.msg === 'three arguments')!;
    assert.deepEqual([three.level, three.target], [20, 'my-target']);
    assert.ok(!mine.some((l) => l.msg === 'undefined'));
    const traps = mine.filter((l) => l.event === 'FunctionExit').map((l) => l.error);
    assert.match(traps[0], /telemetry_log\(level, \[target,\] msg\): level must be a number/);
    assert.match(traps[1], /telemetry_log\(level, target, msg\): msg must be a string/);
    await alice.stop(wid);
  });
});
