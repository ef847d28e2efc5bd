import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'smol-toml';
import { createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { type TestCluster, nodeIdOfDir, startCluster, url } from '../helpers/cluster.js';
import { TEST_ENV, type TestNode, auditedEnclaveInfo, nodeMasterKey, tessera, tesseraCommand, useEphemeralPorts } from '../helpers/cli.js';
import { API, member } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { Tessera } from '../../src/sdk/index.js';
import { issueCertificate } from '../../src/crypto/certificates.js';
import { EVIDENCE_OID, encodeEvidence } from '../../src/attestation/evidence.js';
import { evidenceOf } from '../../src/attestation/verify.js';
import { GOV } from '../../src/governance/tables.js';
import type { NodeInfo } from '../../src/governance/nodes.js';
import { PrincipalService } from '../../src/identity/principals.js';
import { readCa } from '../../src/identity/provision.js';
import { KeyFiles } from '../../src/kms/key-files.js';
import { loadConfig } from '../../src/node/config.js';
import { dataDirPaths } from '../../src/node/datadir.js';
import { type NodeStore, openStore } from '../../src/node/open-store.js';

// Issue 22, item 5: nodes join a cluster through governance, as in CCF. `cluster add-node` records the node
// Pending; started, it records its attestation and waits; members pass transition_node_to_trusted (checked with
// the SDK's own verifier) and it serves; remove_node retires it, and it stops. Real PostgreSQL, NATS, nodes.

let cluster: TestCluster;
let node1: TestNode;
let store: NodeStore;
let audit: Awaited<ReturnType<typeof auditedEnclaveInfo>>;
const joining: { dir: string; id: string; port: number; proc?: ChildProcess; output: string[] } = { dir: '', id: '', port: 0, output: [] };

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

before(async () => {
  cluster = await startCluster({ nodes: 2, users: ['alice'], members: ['m0', 'm1', 'm2'], settings: ['log.level=info'] });
  node1 = cluster.nodes[0];
  const paths = dataDirPaths(node1.dir);
  store = openStore(loadConfig(paths.config), paths, nodeMasterKey(node1.dir));
  audit = await auditedEnclaveInfo(node1.dir, ['auditor']);
  // A third node, made now and started by hand: it stays Pending, and the tests below decide what becomes of it.
  joining.dir = join(cluster.root, 'node3');
  const added = await tessera(['cluster', 'add-node', '--from', node1.dir, '--data', joining.dir, '--name', 'node3']);
  assert.equal(added.code, 0, added.stderr);
  joining.id = nodeIdOfDir(joining.dir);
  assert.match(added.stdout, new RegExp(`node_id ${joining.id}`));
  joining.port = await freePort();
  useEphemeralPorts(joining.dir, (c) => (c.http.port = joining.port));
  joining.proc = spawn(...tesseraCommand(['serve', '--data', joining.dir]), { stdio: ['ignore', 'pipe', 'pipe'], env: TEST_ENV });
  for (const stream of [joining.proc.stdout!, joining.proc.stderr!]) stream.on('data', (d: Buffer) => joining.output.push(d.toString()));
  await until(() => status(joining.id).then((s) => s.recorded));
});

after(async () => {
  if (joining.proc && joining.proc.exitCode === null && joining.proc.signalCode === null) {
    const exited = new Promise((r) => joining.proc!.once('exit', r));
    joining.proc.kill('SIGKILL');
    await exited;
  }
  store?.close();
  await cluster?.cleanup();
});

async function until(check: () => Promise<boolean> | boolean) {
  while (!(await check())) await sleep(200);
}

/** The node's row as the table holds it. */
const row = (id: string) => store.read((tx) => tx.get<NodeInfo>(GOV.nodesInfo, id));
/** The node's status and whether it recorded its attestation, through node1's public read. */
async function status(id: string) {
  const r = await https(url(node1, `/gov/service/nodes/${id}?${API}`), { ca: node1.ca });
  return r.status === 200 ? { status: r.json().status as string, recorded: r.json().quoteInfo !== null } : { status: 'absent', recorded: false };
}
/** Everything a refused proposal must leave alone: nodes, principals and proposals. */
const snapshot = () => store.read((tx) => JSON.stringify([tx.list(GOV.nodesInfo), new PrincipalService(store, { N: 1024, r: 8, p: 1 }).listIn(tx).map((p) => [p.name, p.role, p.certId]), tx.list(GOV.proposals)]));

const transition = (id: string) => [{ name: 'transition_node_to_trusted', args: { node_id: id, valid_from: new Date().toISOString() } }];
const removal = (id: string) => [{ name: 'remove_node', args: { node_id: id } }];

/** m0 proposes, m0 and m1 vote (a majority of three), through `through` (node1); returns the final state. */
async function pass(actions: unknown[], through: TestNode = node1) {
  // The members' identities are beside node 1's data directory, whichever node they reach.
  const [m0, m1] = [member({ ...through, dir: node1.dir }, 'm0'), member({ ...through, dir: node1.dir }, 'm1')];
  const created = await m0.propose({ actions });
  assert.equal(created.status, 200, created.body.toString());
  const { proposalId } = created.json();
  await m0.vote(proposalId, ACCEPT_BALLOT);
  return (await m1.vote(proposalId, ACCEPT_BALLOT)).json();
}

/** A proposal that must be refused before any vote, with nothing changed. */
async function refused(actions: unknown[], reason: RegExp, by = 'm0', code = 400, through: TestNode = node1) {
  const before = snapshot();
  const r = await member({ ...through, dir: node1.dir }, by).propose({ actions });
  assert.equal(r.status, code, r.body.toString());
  assert.match(r.json().error.message, reason);
  assert.equal(snapshot(), before, 'a refused proposal changed the store');
}

function sdk(port: number, trust?: { softwarePlatformKeys: string[] }) {
  const identity = node1.identity('alice');
  return Tessera.connect({ url: `https://127.0.0.1:${port}`, ca: node1.ca, cert: identity.cert, key: identity.key, userId: 'alice', token: identity.token, enclaveInfo: audit.enclaveInfo, auditors: audit.auditors, warn: () => {}, ...(trust ? { trust } : {}) }).then(
    (client) => {
      client.close();
      return client;
    },
    (err: Error) => err,
  );
}

/** The certificate a node presents, and the software platform key its evidence is signed with (PEM). */
function presented(port: number): Promise<{ spki: string; platformKey: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: node1.ca, servername: 'localhost' }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      const report = JSON.parse(Buffer.from(evidenceOf(cert.raw).report, 'base64').toString());
      const platformKey = createPublicKey({ key: Buffer.from(report.platform_key, 'base64'), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString();
      resolve({ spki: new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'pem' }).toString(), platformKey });
    });
    socket.on('error', reject);
  });
}

test('a node made by add-node is Pending: it records its evidence, says what members must do, serves nothing, and its identity is refused', async () => {
  const info = row(joining.id)!;
  assert.equal(info.status, 'Pending');
  assert.equal(info.measurement, row(nodeIdOfDir(node1.dir))!.measurement, 'the same build and settings as the Trusted nodes');
  assert.equal(info.quote_info!.format, 'Insecure_Virtual');
  assert.match(joining.output.join(''), new RegExp(`propose transition_node_to_trusted with node_id ${joining.id}`));
  const listed = (await https(url(node1, '/node/network/nodes'), { ca: node1.ca })).json().nodes as Array<{ node_id: string; status: string }>;
  assert.deepEqual(listed.map((n) => n.status).sort(), ['Pending', 'Trusted', 'Trusted']);
  assert.equal((await https(url(node1, `/node/network/nodes/${joining.id}`), { ca: node1.ca })).json().status, 'Pending');
  assert.equal((await https(url(node1, '/node/network/nodes?status=Pending'), { ca: node1.ca })).json().nodes[0].node_id, joining.id);
  // Not a principal until trusted: its own certificate is refused by the other nodes.
  assert.equal((await https(url(node1, '/v1/whoami'), { ...readNodeIdentity(joining.dir), ca: node1.ca })).status, 401);
  // And the SDK reaches nothing there: the Pending node opened no listener.
  const refusedErr = await sdk(joining.port);
  assert.ok(refusedErr instanceof Error && /cannot reach the node/.test(refusedErr.message), String(refusedErr));
});

/** A node's own identity (DATA/node): what it presents to other nodes as a client. */
function readNodeIdentity(dir: string) {
  const paths = dataDirPaths(dir);
  return { cert: readFileSync(paths.nodeCert, 'utf8'), key: new KeyFiles(nodeMasterKey(dir)).read(paths.nodeKey, 'node') };
}

test('bad transitions are refused before any vote, with a reason, and change nothing', async () => {
  await refused(transition('ab'.repeat(32)), /transition_node_to_trusted: no node abab/);
  await refused(transition(nodeIdOfDir(cluster.nodes[1].dir)), /is Trusted, not Pending/);
  await refused([{ name: 'transition_node_to_trusted', args: { node_id: 'nope', valid_from: 'now' } }], /node_id must contain exactly 64 characters/);
  await refused(transition(joining.id), /kid [0-9a-f]+ is not a member of this service/, 'alice', 401);

  // A tampered row: the node's evidence, re-issued by someone holding the CA on another key, does not bind.
  const original = row(joining.id)!;
  const paths = dataDirPaths(node1.dir);
  const evidence = evidenceOf(Buffer.from(new X509Certificate(original.attested_cert!).raw));
  const forged = await issueCertificate(readCa(paths, new KeyFiles(nodeMasterKey(node1.dir))), { name: 'node', role: 'service', extensions: { [EVIDENCE_OID]: encodeEvidence(evidence) } });
  store.transact((tx) => tx.put<NodeInfo>(GOV.nodesInfo, joining.id, { ...original, attested_cert: forged.certPem }));
  await refused(transition(joining.id), /evidence recorded for node [0-9a-f]+ does not verify \(attestation check failed: the evidence is for another key/);
  // The measurement beside the evidence altered: refused too.
  store.transact((tx) => tx.put<NodeInfo>(GOV.nodesInfo, joining.id, { ...original, measurement: '0'.repeat(64) }));
  await refused(transition(joining.id), /records measurement 0{64}, but its evidence attests/);
  store.transact((tx) => tx.put<NodeInfo>(GOV.nodesInfo, joining.id, original));
});

test('the SDK verifies whichever node it reaches, each on its own evidence', async () => {
  const ports = cluster.nodes.map((n) => n.ports.https);
  for (const port of ports) {
    const client = await sdk(port);
    assert.ok(!(client instanceof Error), String(client));
    assert.equal((client as Tessera).node!.provider, 'software');
  }
  const [one, two] = await Promise.all(ports.map(presented));
  assert.notEqual(one.spki, two.spki, 'each node has its own TLS key');
  assert.notEqual(one.platformKey, two.platformKey, 'each node signs its evidence with its own platform key');
  // Pinned to node1's platform key, the SDK takes node1 and refuses node2: it checked node2's own evidence.
  assert.ok(!((await sdk(ports[0], { softwarePlatformKeys: [one.platformKey] })) instanceof Error));
  const err = await sdk(ports[1], { softwarePlatformKeys: [one.platformKey] });
  assert.ok(err instanceof Error && /not one of the pinned keys/.test(err.message), String(err));
});

test('transition_node_to_trusted lets the Pending node serve; the SDK then verifies it', async () => {
  const r = await pass(transition(joining.id));
  assert.equal(r.proposalState, 'Accepted', JSON.stringify(r));
  await until(() => joining.output.join('').includes('tessera ready'));
  assert.equal(row(joining.id)!.status, 'Trusted');
  const own = { ...readNodeIdentity(joining.dir), ca: node1.ca };
  const whoami = await https(url(node1, '/v1/whoami'), own);
  assert.equal(whoami.status, 200);
  assert.deepEqual([whoami.json().name, whoami.json().role], ['node3', 'service']);
  const client = await sdk(joining.port);
  assert.ok(!(client instanceof Error), String(client));
  const state = await https(`https://127.0.0.1:${joining.port}/node/network/nodes/self`, { ca: node1.ca });
  assert.deepEqual([state.json().node_id, state.json().status], [joining.id, 'Trusted']);
});

test('remove_node retires a Trusted node: it stops serving, its identity is refused, and it never starts again', async () => {
  const r = await pass(removal(joining.id));
  assert.equal(r.proposalState, 'Accepted', JSON.stringify(r));
  assert.equal(row(joining.id)!.status, 'Retired');
  await until(async () => (await sdk(joining.port)) instanceof Error);
  assert.match(joining.output.join(''), /governance retired this node/);
  const own = { ...readNodeIdentity(joining.dir), ca: node1.ca };
  assert.equal((await https(url(node1, '/v1/whoami'), own)).status, 401);
  await until(() => joining.proc!.exitCode !== null);
  const again = await tessera(['serve', '--data', joining.dir]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /was retired by governance \(remove_node\) and never serves again/);
  await refused(removal(joining.id), /is already Retired/);
  await refused(removal('cd'.repeat(32)), /no node cdcd/);
});

test('a Trusted node restarted with another measurement (a measured setting changed) is refused, and the row keeps the trusted one', async () => {
  const node2 = cluster.nodes[1];
  const id = nodeIdOfDir(node2.dir);
  const trusted = row(id)!.measurement;
  await node2.stop('SIGTERM');
  const path = join(node2.dir, 'tessera.toml');
  const original = readFileSync(path, 'utf8');
  try {
    const config = parse(original) as Record<string, any>;
    config.fn = { ...(config.fn ?? {}), allow_direct_deploy: !(config.fn?.allow_direct_deploy ?? false) };
    writeFileSync(path, stringify(config));
    const changed = await tessera(['serve', '--data', node2.dir]);
    assert.notEqual(changed.code, 0);
    assert.match(changed.stderr, /was trusted with another measurement than this build and its measured settings give/);
    assert.equal(row(id)!.measurement, trusted, 'the trusted measurement is not overwritten');
  } finally {
    writeFileSync(path, original);
  }
  await node2.restart();
  assert.equal((await https(url(node2, '/v1/whoami'), { ...node2.identity('alice'), ca: node2.ca })).status, 200);
});

test('remove_node of the last Trusted node is refused', async () => {
  const node2 = nodeIdOfDir(cluster.nodes[1].dir);
  assert.equal((await pass(removal(node2))).proposalState, 'Accepted');
  await refused(removal(nodeIdOfDir(node1.dir)), /is the last Trusted node/);
  const listed = (await https(url(node1, '/node/network/nodes?status=Trusted'), { ca: node1.ca })).json().nodes;
  assert.deepEqual(listed.map((n: { node_id: string }) => n.node_id), [nodeIdOfDir(node1.dir)]);
});
