// GET /metrics as an operator's Prometheus scrapes it: every family docs/operations.md lists is there, each
// moves after the action it counts, EDGELESS's workflow families keep their names, and a user is refused.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode, REPO } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';
import { builtinTasks } from '../helpers/builtin-tasks.js';
import { WireClient } from '../helpers/wire-client.js';
import { member as gov } from '../helpers/gov.js';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { jsFunction, workflowClient } from '../helpers/workflows.js';

let node: TestNode;
before(async () => {
  // Three members: the default constitution passes a proposal on two votes of three.
  node = await startNode({ users: ['alice'], members: ['op', 'm1', 'm2'], config: (c) => (c.log = { level: 'warn' }) });
});
after(() => node.cleanup());

const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
const as = (name: string) => ({ ...node.identity(name), ca: node.ca });
/** A member has a certificate and no token. */
const member = (name: string) => {
  const base = join(identitiesDirOf(node.dir), name);
  return { cert: readFileSync(join(base, 'cert.pem'), 'utf8'), key: readFileSync(join(base, 'key.pem'), 'utf8'), ca: node.ca };
};

async function scrape(who: 'op' | 'service' = 'op'): Promise<string> {
  const r = await https(url('/metrics'), who === 'service' ? { ...node.service, ca: node.ca } : member('op'));
  assert.equal(r.status, 200, r.body.toString());
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return r.body.toString();
}

/** Sum of the samples of `name` whose labels include `labels` (Prometheus text format). */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

const families = (text: string) => new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`));

async function until(probe: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 400; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('/metrics', () => {
  test('every family of docs/operations.md is served, with its type', async () => {
    const text = await scrape();
    const have = families(text);
    const doc = readFileSync(`${REPO}/docs/operations.md`, 'utf8');
    // The table rows: | `name` | type | labels | meaning |
    const documented = [...doc.matchAll(/^\| `([a-z_]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.ok(documented.length >= 25, `docs/operations.md documents ${documented.length} families`);
    for (const f of documented) assert.ok(have.has(f), `${f} is documented but not served`);
    for (const f of have) {
      if (/^(process_|nodejs_)/.test(f)) continue;
      assert.ok(documented.includes(f), `${f} is served but not documented in docs/operations.md`);
    }
    // The node's service identity may scrape too.
    assert.ok(families(await scrape('service')).has('tessera_store_commits_total counter'));
  });

  test('HTTP requests by route pattern and status, and their latency', async () => {
    const before = await scrape();
    await https(url('/v1/health'), as('alice'));
    await https(url('/v1/files/does-not-exist'), as('alice'));
    const after = await scrape();
    const health = { method: 'GET', route: '/v1/health', status: '200' };
    assert.equal(value(after, 'tessera_http_requests_total', health) - value(before, 'tessera_http_requests_total', health), 1);
    assert.equal(value(after, 'tessera_http_request_duration_seconds_count', health) - value(before, 'tessera_http_request_duration_seconds_count', health), 1);
    // The pattern, not the URL: one series for every file id.
    const file = { method: 'GET', route: '/v1/files/:id', status: '404' };
    assert.ok(value(after, 'tessera_http_requests_total', file) >= 1, after.split('\n').filter((l) => l.includes('/v1/files')).join('\n'));
    assert.ok(!after.includes('does-not-exist'), 'no raw URL in a label');
    // The scrape itself is in flight while it is answered.
    assert.ok(value(after, 'tessera_admission_in_flight', { pool: 'identified' }) >= 1);
    assert.ok(value(after, 'tessera_admission_in_flight_limit', { pool: 'identified' }) > 0);
  });

  test('store commits and fsyncs, then ledger entries and bytes, grow with a write', async () => {
    const before = await scrape();
    const tasks = builtinTasks(() => node);
    await tasks.upload('alice', 'counted');
    const after = await scrape();
    assert.ok(value(after, 'tessera_store_commits_total') > value(before, 'tessera_store_commits_total'));
    assert.ok(value(after, 'tessera_store_fsyncs_total') > value(before, 'tessera_store_fsyncs_total'));
    // The ledger takes new transactions in at its next signature (ledger.signature_interval_ms).
    await until(async () => {
      const now = await scrape();
      return value(now, 'tessera_ledger_entries') > value(before, 'tessera_ledger_entries') && value(now, 'tessera_ledger_bytes') > value(before, 'tessera_ledger_bytes') && value(now, 'tessera_ledger_last_signed_seqno') > value(before, 'tessera_ledger_last_signed_seqno');
    }, 'the ledger to grow');
  });

  test('a built-in task: a worker thread, busy then idle; a JS task function: task sandbox time', async () => {
    const tasks = builtinTasks(() => node);
    const before = await scrape();
    const r = await tasks.run('echo', { payload: 'hi' });
    assert.equal(r.status, 200, r.body);
    const after = await scrape();
    assert.ok(value(after, 'tessera_builtin_workers', { state: 'idle' }) + value(after, 'tessera_builtin_workers', { state: 'busy' }) >= 1, 'a worker thread was started');
    assert.ok(value(after, 'tessera_builtin_workers_max') >= 1);
    assert.equal(value(after, 'tessera_builtin_queue_depth'), 0);

    const fn = { name: 'spin', kind: 'js', type: 'Single', description: 'spins', modules: { '/main.js': 'export function entrypoint() { let x = 0; for (let i = 0; i < 2e6; i++) x += i; return String(x); }' }, interface: { payload: 'json', arguments: [], inputs: [], outputs: [] } };
    const reg = await https(url('/v1/functions'), as('alice'), { method: 'POST', json: fn });
    assert.equal(reg.status, 201, reg.body.toString());
    const run = await tasks.run(reg.json().function_id, { payload: '{}' });
    assert.equal(run.status, 200, run.body);
    const ran = await scrape();
    assert.ok(value(ran, 'tessera_sandbox_cpu_seconds_total', { kind: 'task' }) > value(before, 'tessera_sandbox_cpu_seconds_total', { kind: 'task' }));
    assert.ok(value(ran, 'tessera_sandbox_wall_seconds_total', { kind: 'task' }) > value(before, 'tessera_sandbox_wall_seconds_total', { kind: 'task' }));
  });

  test('a workflow: instances, isolates alive, workflow sandbox time, and EDGELESS function_count', async () => {
    const alice = workflowClient(node, 'alice');
    const before = await scrape();
    const w = await alice.start({ functions: [jsFunction('busy', 'export function handle_init() { let x = 0; for (let i = 0; i < 2e6; i++) x += i; }\nexport function handle_cast() {}')], resources: [] }, 'metered');
    assert.equal(w.status, 201, w.body.toString());
    const running = await scrape();
    assert.equal(value(running, 'tessera_workflow_instances') - value(before, 'tessera_workflow_instances'), 1);
    assert.equal(value(running, 'tessera_sandbox_isolates', { kind: 'workflow' }) - value(before, 'tessera_sandbox_isolates', { kind: 'workflow' }), 1);
    assert.ok(value(running, 'tessera_sandbox_cpu_seconds_total', { kind: 'workflow' }) > value(before, 'tessera_sandbox_cpu_seconds_total', { kind: 'workflow' }));
    assert.equal(value(running, 'function_count', { function_type: 'JS' }) - value(before, 'function_count', { function_type: 'JS' }), 1);
    assert.ok(value(running, 'tessera_workflow_threads', { state: 'idle' }) >= 1);
    assert.equal(value(running, 'tessera_workflow_queue_depth'), 0);
    assert.equal((await alice.stop(w.json().workflow_id)).status, 200);
    const stopped = await scrape();
    assert.equal(value(stopped, 'tessera_sandbox_isolates', { kind: 'workflow' }), value(before, 'tessera_sandbox_isolates', { kind: 'workflow' }), 'its isolate is gone');
    assert.ok(value(stopped, 'tessera_sandbox_cpu_seconds_total', { kind: 'workflow' }) >= value(running, 'tessera_sandbox_cpu_seconds_total', { kind: 'workflow' }), 'a counter never goes back');
  });

  test('a governance proposal: governance sandbox time (the constitution runs in an isolate)', async () => {
    const before = await scrape();
    const r = await gov(node, 'op').propose({ actions: [{ name: 'set_user_data', args: { user_id: '00', user_data: null } }] });
    assert.ok(r.status < 500, r.body.toString());
    const after = await scrape();
    assert.ok(value(after, 'tessera_sandbox_cpu_seconds_total', { kind: 'governance' }) > value(before, 'tessera_sandbox_cpu_seconds_total', { kind: 'governance' }));
    assert.equal(value(after, 'tessera_sandbox_isolates', { kind: 'governance' }), 0, 'each run has its isolate, gone once it is done');
  });

  test('a CCF app: app sandbox time and its isolates', async () => {
    const bundle = {
      metadata: { endpoints: { '/spin': { get: { js_module: 'a.js', js_function: 'spin', forwarding_required: 'never', authn_policies: ['no_auth'], mode: 'readonly' } } } },
      modules: [{ name: 'a.js', module: 'export function spin() { let x = 0; for (let i = 0; i < 2e6; i++) x += i; return { body: String(x) }; }' }],
    };
    const [op, m1] = [gov(node, 'op'), gov(node, 'm1')];
    const p = (await op.propose({ actions: [{ name: 'set_js_app', args: { bundle } }] })).json();
    await op.vote(p.proposalId, ACCEPT_BALLOT);
    assert.equal((await m1.vote(p.proposalId, ACCEPT_BALLOT)).json().proposalState, 'Accepted');
    const before = await scrape();
    const r = await https(url('/app/spin'), { ca: node.ca });
    assert.equal(r.status, 200, r.body.toString());
    const after = await scrape();
    assert.ok(value(after, 'tessera_sandbox_cpu_seconds_total', { kind: 'app' }) > value(before, 'tessera_sandbox_cpu_seconds_total', { kind: 'app' }));
    assert.ok(value(after, 'tessera_sandbox_isolates', { kind: 'app' }) >= 1, 'the app keeps an isolate of fresh contexts made ahead');
    assert.equal(value(after, 'tessera_http_requests_total', { route: '/app/*', status: '200' }) - value(before, 'tessera_http_requests_total', { route: '/app/*', status: '200' }), 1, 'the app route counts under its pattern');
  });

  test('MesaTEE wire requests, by listener and outcome', async () => {
    const before = await scrape();
    const alice = node.identity('alice');
    const tms = await WireClient.connect(node.ports.tms_external, { cert: alice.cert, key: alice.key, ca: node.ca });
    tms.send({ type: 'NoSuchRequest' });
    const reply = await tms.receive();
    tms.socket.end();
    assert.ok(reply, 'a reply');
    const after = await scrape();
    const labels = { listener: 'tms_external', outcome: 'error' };
    assert.equal(value(after, 'tessera_wire_requests_total', labels) - value(before, 'tessera_wire_requests_total', labels), 1);
  });

  test('a user is refused with 403', async () => {
    const r = await https(url('/metrics'), as('alice'));
    assert.equal(r.status, 403);
    assert.match(r.json().error.message, /every tenant/);
  });
});
