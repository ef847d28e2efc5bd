// EventMetadata (EDGELESS edgeless_api_core/src/event_metadata.rs, base_runtime/guest_api.rs): every event
// carries a trace id and a span id; a request from outside starts a new trace, and every cast, call and
// delayed cast an instance makes while handling an event carries that event's metadata unchanged.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../helpers/workflows.js';

let node: TestNode;
let alice: ReturnType<typeof workflowClient>;
before(async () => {
  node = await startNode({ users: ['alice'] });
  alice = workflowClient(node, 'alice');
});
after(() => node.cleanup());

const md = `const md = () => { const m = edgeless.metadata(); return m ? m.trace_id + ' ' + m.span_id : 'none'; };`;
// a: called by the ingress, casts to b; b calls c, then c again by its id (call_raw); c makes a delayed cast
// and a cast_raw to itself. Each logs what it sees.
const A = `${HTTP_REPLY} ${md}
export function handle_init() { edgeless.cast('log', 'a-init ' + md()); }
export function handle_call(src, msg) { edgeless.cast('log', 'a ' + md()); edgeless.cast('b', 'go'); return reply(200, md()); }`;
const B = `${md}
export function handle_cast(src, msg) {
  edgeless.cast('log', 'b ' + md());
  edgeless.telemetry_log(3, 'b says hello');
  const r = edgeless.call('c', 'x');
  edgeless.cast('log', 'b-reply ' + md());
  edgeless.call_raw(JSON.parse(r.data), 'raw');
}`;
const C = `${md}
export function handle_call(src, msg) {
  if (msg === 'raw') { edgeless.cast('log', 'c-call-raw ' + md()); return 'raw-ok'; }
  edgeless.cast('log', 'c ' + md());
  edgeless.delayed_cast(1, 'self', 'later');
  edgeless.cast_raw(edgeless.slf(), 'raw');
  return JSON.stringify(edgeless.slf());
}
export function handle_cast(src, msg) {
  if (msg === 'raw') { edgeless.cast('log', 'c-cast-raw ' + md()); return; }
  edgeless.cast('log', 'c-later ' + md());
}`;

const chain = {
  functions: [jsFunction('a', A, { b: 'b', log: 'log' }), jsFunction('b', B, { c: 'c', log: 'log' }), jsFunction('c', C, { log: 'log' })],
  resources: [ingress('a', { host: 'trace.example' }), { name: 'log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'trace.log' } }],
};

describe('EventMetadata', () => {
  test('a chain (cast, call, delayed cast) shares the trace of the ingress request; each request starts a new one', async () => {
    const started = await alice.start(chain, 'traced');
    assert.equal(started.status, 201, started.body.toString());
    const roots: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await alice.ingressAt('trace.example', '/go', { body: 'x' });
      assert.equal(r.status, 200, r.body.toString());
      roots.push(r.body.toString());
    }
    for (const root of roots) assert.match(root, /^[0-9a-f]{32} [0-9a-f]{16}$/);
    assert.notEqual(roots[0].split(' ')[0], roots[1].split(' ')[0], 'each ingress request is a new trace');
    assert.notEqual(roots[0].split(' ')[0], '0'.repeat(32), 'Tessera gives a new root a random trace id (EDGELESS: zero)');

    const lines = await alice.until(async () => {
      const f = await alice.file('traced', 'trace.log');
      const text = f.status === 200 ? (f.json().content as string) : '';
      const l = text.trimEnd().split('\n');
      return l.length >= 15 ? l : undefined;
    }, 'the chain to run twice');
    assert.deepEqual(lines.filter((l) => l.startsWith('a-init')), ['a-init none'], 'no event is current in handle_init');
    for (const root of roots) {
      const seen = lines.filter((l) => l.endsWith(` ${root}`)).map((l) => l.split(' ')[0]);
      assert.deepEqual(seen.sort(), ['a', 'b', 'b-reply', 'c', 'c-cast-raw', 'c-later', 'c-call-raw'].sort(), `every hop of the request ${root} carries its metadata unchanged:\n${lines.join('\n')}`);
    }
    // The guest's own log lines name the trace too.
    const logged = node.logs().split('\n').filter((l) => l.includes('b says hello')).map((l) => JSON.parse(l));
    assert.equal(logged.length, 2);
    assert.deepEqual(logged.map((l) => `${l.trace_id} ${l.span_id}`).sort(), [...roots].sort());
    assert.ok(logged.every((l) => l.target === 'b' && l.function === 'b'), 'telemetry_log(level, msg): the target is the function name');
    assert.equal((await alice.stop(started.json().workflow_id)).status, 200);
  });
});
