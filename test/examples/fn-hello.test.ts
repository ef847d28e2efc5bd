import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { REPO, type TestNode, auditedEnclaveInfo, startNode, tessera } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';

// examples/fn/hello: an unmodified @fnproject/fdk function (its one dependency carried in its own
// node_modules, as a package must), deployed with one `tessera fn deploy` and called through /invoke and
// its http trigger.

let node: TestNode;
let verify: string[];
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.fn = { ...(c.fn ?? {}), allow_direct_deploy: true }) });
  const audit = await auditedEnclaveInfo(node.dir, ['auditor']);
  verify = ['--enclave-info', audit.enclaveInfo, '--auditor', `${audit.auditors[0].publicKey}:${audit.auditors[0].signatureFile}`];
});
after(() => node.cleanup());

const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;

test('examples/fn/hello deploys with one command and answers Fn calls', async () => {
  const deploy = await tessera(['fn', 'deploy', join(REPO, 'examples', 'fn', 'hello'), '-i', join(identitiesDirOf(node.dir), 'alice'), '--url', url(''), ...verify]);
  assert.equal(deploy.code, 0, deploy.stderr);
  const id = deploy.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);

  const alice = { ...node.identity('alice'), ca: node.ca };
  const called = await https(url(`/invoke/${id}`), alice, { method: 'POST', body: Buffer.from('{"name":"Bob"}'), headers: { 'content-type': 'application/json' } });
  assert.equal(called.status, 200, called.body.toString());
  assert.deepEqual(called.json(), { message: 'Hello Bob' });

  const triggered = await https(url('/t/default/hello'), alice, { method: 'POST', body: Buffer.from('{}'), headers: { 'content-type': 'application/json' } });
  assert.equal(triggered.status, 200, triggered.body.toString());
  assert.deepEqual(triggered.json(), { message: 'Hello World' });
});
