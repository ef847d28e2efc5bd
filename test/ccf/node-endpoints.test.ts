// CCF's /node frontend and common endpoints, as CCF's own tests call them (microsoft/CCF tests/*.py, named
// at each test): no caller identity needed, CCF's shapes (doc/schemas/node_openapi.json) for one node.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { verifyReceipt } from '../../src/sdk/index.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.ledger = { signature_interval_ms: 50 }) });
});
after(() => node.cleanup());

/** Anonymous: a TLS connection with no client certificate, as CCF's clients make for these endpoints. */
const anon = (path: string, init: { method?: string; headers?: Record<string, string> } = {}) => https(`https://127.0.0.1:${node.ports.https}${path}`, { ca: node.ca }, init);

test('/node/state, /node/version and /node/network answer anyone (tests/e2e_operations.py, tests/infra/node.py)', async () => {
  const state = await anon('/node/state');
  assert.equal(state.status, 200);
  const s = state.json();
  assert.match(s.node_id, /^[0-9a-f]{64}$/);
  assert.equal(s.state, 'PartOfNetwork');
  assert.equal(typeof s.last_signed_seqno, 'number');
  assert.equal(s.stop_notice, false);
  const version = (await anon('/node/version')).json();
  assert.deepEqual(Object.keys(version).sort(), ['ccf_version', 'quickjs_version', 'unsafe']);
  const network = (await anon('/node/network')).json();
  assert.equal(network.service_status, 'Open');
  assert.equal(network.current_view, 2);
  assert.equal(network.primary_id, s.node_id);
  assert.equal(network.service_certificate, node.ca);
  assert.equal(network.current_service_create_txid, '2.1');
  assert.equal(network.recovery_count, 0);
});

test('/node/network/nodes lists the one node, filtered by host, port and status (tests/infra/network.py)', async () => {
  const id = (await anon('/node/state')).json().node_id;
  const all = (await anon('/node/network/nodes')).json();
  assert.equal(all.nodes.length, 1);
  assert.deepEqual(Object.keys(all.nodes[0]).sort(), ['last_written', 'node_data', 'node_id', 'primary', 'rpc_interfaces', 'status']);
  assert.equal(all.nodes[0].node_id, id);
  assert.equal(all.nodes[0].primary, true);
  assert.equal(all.nodes[0].status, 'Trusted');
  assert.equal(all.nodes[0].rpc_interfaces.primary_rpc_interface.published_address, `127.0.0.1:${node.ports.https}`);
  assert.equal((await anon('/node/network/nodes?status=Retired')).json().nodes.length, 0);
  assert.equal((await anon(`/node/network/nodes?host=127.0.0.1&port=${node.ports.https}`)).json().nodes.length, 1);
  const bad = await anon('/node/network/nodes?status=Nope');
  assert.deepEqual([bad.status, bad.json().error], [400, { code: 'InvalidQueryParameterValue', message: "Query parameter 'Nope' is not a valid node status" }]);
  assert.equal((await anon('/node/network/nodes/self')).json().node_id, id);
  assert.equal((await anon('/node/network/nodes/primary')).json().node_id, id);
  assert.equal((await anon(`/node/network/nodes/${id}`)).json().node_id, id);
  const missing = await anon(`/node/network/nodes/${'0'.repeat(64)}`);
  assert.deepEqual([missing.status, missing.json().error], [404, { code: 'ResourceNotFound', message: 'Node not found' }]);
  assert.deepEqual((await anon('/node/network/removable_nodes')).json(), { nodes: [] });
  // The node is primary: GET /node/primary 200 and /node/backup 404 (tests/e2e_operations.py).
  assert.equal((await anon('/node/primary')).status, 200);
  assert.equal((await anon('/node/primary', { method: 'HEAD' })).status, 200);
  assert.equal((await anon('/node/backup')).status, 404);
});

test('/node/quotes and /node/attestations give the node attestation as a CCF Quote (tests/code_update.py)', async () => {
  const id = (await anon('/node/state')).json().node_id;
  const self = (await anon('/node/quotes/self')).json();
  assert.equal(self.node_id, id);
  assert.equal(self.format, 'Insecure_Virtual');
  assert.equal(typeof self.raw, 'string');
  assert.match(self.measurement, /^[0-9a-f]+$/);
  assert.deepEqual((await anon('/node/attestations/self')).json(), self);
  assert.deepEqual((await anon('/node/quotes')).json(), { quotes: [self] });
  assert.deepEqual((await anon('/node/attestations')).json(), { attestations: [self] });
});

test('readiness, metrics, memory, js_metrics, consensus and configuration (tests/e2e_operations.py, tests/memory_test.py, tests/js-modules/modules.py)', async () => {
  assert.equal((await anon('/node/ready/app')).status, 204);
  assert.equal((await anon('/node/ready/gov')).status, 204);
  const memory = (await anon('/node/memory')).json();
  assert.ok(memory.max_total_heap_size > 0 && memory.current_allocated_heap_size > 0 && memory.peak_allocated_heap_size >= memory.current_allocated_heap_size);
  const js = (await anon('/node/js_metrics')).json();
  assert.deepEqual(Object.keys(js).sort(), ['bytecode_size', 'bytecode_used', 'max_cached_interpreters', 'max_execution_time', 'max_heap_size', 'max_stack_size']);
  assert.equal(js.max_execution_time, 5000);
  assert.equal(js.max_heap_size, 100 * 1024 * 1024);
  const metrics = (await anon('/node/metrics')).json();
  assert.ok(metrics.sessions.active >= 1);
  const consensus = (await anon('/node/consensus')).json();
  assert.equal(consensus.details.current_view, 2);
  assert.equal(consensus.details.leadership_state, 'Leader');
  assert.equal((await anon('/node/service/configuration')).json().recent_cose_proposals_window_size, 100);
  assert.deepEqual((await anon('/node/jwt_keys/refresh/metrics')).json(), { attempts: 0, successes: 0, failures: 0 });
  const previous = await anon('/node/service/previous_identity');
  assert.deepEqual([previous.status, previous.json().error.message], [404, 'This service is not a recovery of a previous service.']);
  const api = (await anon('/node/api')).json();
  assert.equal(api.openapi, '3.0.0');
  for (const path of ['/node/commit', '/node/tx', '/node/receipt', '/node/network/nodes/{node_id}', '/node/quotes/self']) assert.ok(api.paths[path], path);
});

test('/commit, /tx and /receipt answer under /node, /app, /gov and without a prefix, with no identity (tests/e2e_logging.py, tests/election.py)', async () => {
  const commit = (await anon('/node/commit')).json().transaction_id as string;
  assert.match(commit, /^2\.\d+$/);
  for (const prefix of ['/app', '/gov', '']) assert.match((await anon(`${prefix}/commit`)).json().transaction_id, /^2\.\d+$/);
  // tests/election.py: view_history.
  assert.equal('view_history' in (await anon('/app/commit')).json(), false);
  assert.deepEqual((await anon('/app/commit?view_history=nottrue')).json(), { error: { code: 'InvalidQueryParameterValue', message: 'Invalid value for view_history, must be one of [true, false] when present' } });
  const history = (await anon('/app/commit?view_history=true')).json().view_history;
  assert.equal(history.length, 2);
  assert.deepEqual((await anon('/app/commit?view_history_since=1')).json().view_history, history);
  assert.deepEqual((await anon('/app/commit?view_history_since=2')).json().view_history, history.slice(1));
  const zero = await anon('/app/commit?view_history_since=0');
  assert.deepEqual([zero.status, zero.json()], [400, { error: { code: 'InvalidQueryParameterValue', message: 'Invalid value for view_history_since, must be in range [1, current_term]' } }]);
  const future = await anon('/app/commit?view_history_since=3');
  assert.deepEqual([future.status, future.json().error.code], [404, 'InvalidQueryParameterValue']);

  // tests/e2e_logging.py test_invalid_txids: malformed ids, and ids with view or seqno 0, are 400; 1.x is Invalid.
  for (const id of ['a.b', '-1.-1', '0.0', '1.0', '0.1', '2.0']) {
    const r = await anon(`/tx?transaction_id=${id}`);
    assert.equal(r.status, 400, id);
    assert.equal(r.json().error.code, 'InvalidQueryParameterValue', id);
  }
  for (const id of ['1.1', '1.2']) assert.equal((await anon(`/tx?transaction_id=${id}`)).json().status, 'Invalid', id);
  assert.deepEqual((await anon(`/node/tx?transaction_id=${commit}`)).json(), { status: 'Committed', transaction_id: commit });
  const missing = await anon('/node/tx');
  assert.deepEqual([missing.status, missing.json().error], [400, { code: 'InvalidQueryParameterValue', message: "Missing query parameter 'transaction_id'" }]);

  // Receipts (tests/e2e_logging.py, tests/infra/node.py) under /node as under /app, verifiable offline.
  let receipt;
  for (let i = 0; i < 100; i++) {
    const r = await anon(`/node/receipt?transaction_id=${commit}`);
    if (r.status === 200) {
      receipt = r.json();
      break;
    }
    assert.deepEqual([r.status, r.headers['retry-after'], r.body.toString()], [202, '3', `Historical transaction ${commit} is not currently available.`]);
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.ok(receipt, 'no receipt');
  verifyReceipt(receipt, node.ca);
  const invalid = await anon('/receipt?transaction_id=1.1');
  assert.deepEqual([invalid.status, invalid.json().error], [404, { code: 'TransactionInvalid', message: 'Only committed transactions can be queried. Transaction 1.1 is Invalid' }]);
  const pending = await anon('/app/receipt?transaction_id=2.999999');
  assert.deepEqual([pending.status, pending.json().error.code, pending.headers['cache-control']], [404, 'TransactionPendingOrUnknown', 'no-cache']);
});
