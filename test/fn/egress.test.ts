// Network access for process functions: none (a network namespace with only loopback) unless the function
// declares the annotation tessera.io/egress and the operator allows it with fn.allow_egress.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { type TestNode, startNode, tessera } from '../helpers/cli.js';
import { fnDir, nodeYaml } from '../helpers/fn-fixtures.js';
import { https } from '../helpers/https-client.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

const EGRESS = 'annotations:\n  tessera.io/egress: true\n';
const CONNECT = `const net = require('net');
require('@fnproject/fdk').handle((input) => new Promise((resolve) => {
  const s = net.connect(Number(input.port), '127.0.0.1');
  s.setTimeout(3000, () => { s.destroy(); resolve({ connected: false, error: 'timeout' }); });
  s.on('data', (d) => { s.end(); resolve({ connected: true, got: d.toString() }); });
  s.on('error', (e) => resolve({ connected: false, error: e.code }));
}));`;

let open: TestNode;
let closed: TestNode;
const server = createServer((socket) => socket.end('hello from the host'));
before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // One after the other: the nodes of one test process share its sealing key file, which init writes.
  open = await startNode({ users: ['alice'], config: (c) => (c.fn = { allow_direct_deploy: true, allow_egress: true }) });
  closed = await startNode({ users: ['alice'], config: (c) => (c.fn = { allow_direct_deploy: true }) });
});
after(async () => {
  server.close();
  await Promise.all([open?.cleanup(), closed?.cleanup()]);
});

const deploy = (node: TestNode, dir: string) => tessera(['fn', 'deploy', dir, '--app', 'net', '-i', `${identitiesDirOf(node.dir)}/alice`, '--url', `https://127.0.0.1:${node.ports.https}`, '--insecure-skip-verification']);
const call = (node: TestNode, id: string) =>
  https(`https://127.0.0.1:${node.ports.https}/invoke/${id}`, { ...node.identity('alice'), ca: node.ca }, { method: 'POST', json: { port: (server.address() as AddressInfo).port } });

test('a function that declares egress reaches the host where the operator allows it', async () => {
  const r = await deploy(open, fnDir('out', nodeYaml('out', EGRESS), { 'func.js': CONNECT }));
  assert.equal(r.code, 0, r.stderr);
  const answer = await call(open, r.stdout.trim());
  assert.equal(answer.status, 200, answer.body.toString());
  assert.deepEqual(answer.json(), { connected: true, got: 'hello from the host' });
});

test('without the annotation, the same code on the same node gets nowhere', async () => {
  const r = await deploy(open, fnDir('stay', nodeYaml('stay'), { 'func.js': CONNECT }));
  assert.equal(r.code, 0, r.stderr);
  const answer = await call(open, r.stdout.trim());
  assert.equal(answer.status, 200, answer.body.toString());
  assert.equal(answer.json().connected, false);
});

test('where the operator has not allowed egress, a function that declares it is refused at deploy', async () => {
  const r = await deploy(closed, fnDir('out', nodeYaml('out', EGRESS), { 'func.js': CONNECT }));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /asks for network access \(annotation tessera\.io\/egress\); this node's operator has not allowed it \(fn\.allow_egress\)/);
});
