import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { REPO, type TestNode, startNode, tessera } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';

// examples/ccf-app, deployed as the README tells a newcomer to: one `tessera app deploy` by the node's only
// member, who also votes for it (--accept) and waits for the outcome (--wait). Then its endpoints answer.

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0'] });
});
after(() => node.cleanup());

const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;

test('examples/ccf-app deploys with one command and serves its endpoints', async () => {
  const deploy = await tessera(['app', 'deploy', join(REPO, 'examples', 'ccf-app'), '-i', join(identitiesDirOf(node.dir), 'm0'), '--url', url(''), '--accept', '--wait', '--timeout', '60']);
  assert.equal(deploy.code, 0, deploy.stderr);
  assert.match(deploy.stdout, /Accepted/);

  const alice = { ...node.identity('alice'), ca: node.ca };
  const hello = await https(url('/app/hello'), { ca: node.ca });
  assert.equal(hello.status, 200, hello.body.toString());
  assert.match(hello.body.toString(), /Hello from a CCF app/);

  const put = await https(url('/app/greetings/bob'), alice, { method: 'PUT', body: Buffer.from('hi, Bob'), headers: { 'content-type': 'text/plain' } });
  assert.equal(put.status, 201, put.body.toString());
  const got = await https(url('/app/greetings/bob'), alice);
  assert.equal(got.status, 200, got.body.toString());
  assert.equal(got.json().text, 'hi, Bob');
  assert.match(got.json().by, /^[0-9a-f]{64}$/, "the caller's certificate id");
  assert.equal((await https(url('/app/greetings/nobody'), alice)).status, 404);
  assert.equal((await https(url('/app/greetings/bob'), { ca: node.ca })).status, 401, 'user_cert: no certificate, no greeting');
});
