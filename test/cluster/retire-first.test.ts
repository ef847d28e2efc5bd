import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { trustNode } from '../../src/node/cluster-trust.js';
import { type TestNode, serveDataDir, tessera, useEphemeralPorts } from '../helpers/cli.js';
import { type TestCluster, memberClients, nodeIdOfDir, startCluster, url } from '../helpers/cluster.js';
import { member } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';

// The first node of a service, serving alone before any other node existed (its row in
// public:ccf.gov.nodes.info is written only by the first add-node), is retired by remove_node like any other:
// it notices and stops. (Issue 22 review: it used to keep serving until restarted.)

let cluster: TestCluster;
let node2: TestNode | undefined;
after(async () => {
  await node2?.cleanup();
  await cluster?.cleanup();
});

test('the first node, serving before the first add-node, stops when members retire it', async () => {
  cluster = await startCluster({ nodes: 1, users: ['alice'], members: ['m0', 'm1', 'm2'], settings: ['log.level=info'] });
  const [node1] = cluster.nodes;
  const dir = join(cluster.root, 'node2');
  const added = await tessera(['cluster', 'add-node', '--from', node1.dir, '--data', dir]);
  assert.equal(added.code, 0, added.stderr);
  useEphemeralPorts(dir);
  const serving = serveDataDir(dir, node1.dir);
  serving.catch(() => {});
  await trustNode({ members: memberClients(node1, ['m0', 'm1', 'm2']), nodeId: nodeIdOfDir(dir) });
  node2 = await serving;

  // The members' identities are beside node 1's data directory; they reach node 2.
  const via2 = (name: string) => member({ ...node2!, dir: node1.dir }, name);
  const proposal = await via2('m0').propose({ actions: [{ name: 'remove_node', args: { node_id: nodeIdOfDir(node1.dir) } }] });
  assert.equal(proposal.status, 200, proposal.body.toString());
  const { proposalId } = proposal.json();
  await via2('m0').vote(proposalId, ACCEPT_BALLOT);
  const state = (await via2('m1').vote(proposalId, ACCEPT_BALLOT)).json();
  assert.equal(state.proposalState, 'Accepted', JSON.stringify(state));

  for (let i = 0; i < 100 && node1.proc.exitCode === null; i++) await sleep(200);
  assert.notEqual(node1.proc.exitCode, null, 'the retired first node stopped');
  assert.match(node1.logs(), /governance retired this node/);
  // The service goes on through the node that remains.
  assert.equal((await https(url(node2, '/v1/whoami'), { ...node2.identity('alice'), ca: node2.ca })).status, 200);
});
