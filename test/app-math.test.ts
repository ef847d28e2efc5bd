import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { ACCEPT_BALLOT } from '../src/sdk/member.js';
import { REPO, type TestNode, startNode } from './helpers/cli.js';
import { member } from './helpers/gov.js';
import { https } from './helpers/https-client.js';

// The seed's math app, deployed by its exact proposal, answering as CCF's documentation says.

let node: TestNode;
let members: Array<ReturnType<typeof member>>;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'] });
  members = ['m0', 'm1', 'm2'].map((m) => member(node, m));
});
after(() => node.cleanup());

async function pass(proposal: unknown) {
  const p = (await members[0].propose(proposal)).json();
  await members[0].vote(p.proposalId, ACCEPT_BALLOT);
  const r = (await members[1].vote(p.proposalId, ACCEPT_BALLOT)).json();
  assert.equal(r.proposalState, 'Accepted', JSON.stringify(r));
}

const app = (path: string, opts: { method?: string; json?: unknown; anonymous?: boolean; body?: Buffer; headers?: Record<string, string> } = {}) => {
  const alice = node.identity('alice');
  return https(`https://127.0.0.1:${node.ports.https}${path}`, opts.anonymous ? { ca: node.ca } : { cert: alice.cert, key: alice.key, ca: node.ca }, { method: opts.method, json: opts.json, body: opts.body, headers: opts.headers });
};

test('the seed math app deployed by its proposal answers as the spec says', async () => {
  const before = await app('/app/compute', { method: 'POST', json: { op: 'sub', left: 82, right: 40 } });
  assert.equal(before.status, 404, 'nothing is deployed yet');
  await pass(JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'math-proposal.json'), 'utf8')));

  const sub = await app('/app/compute', { method: 'POST', json: { op: 'sub', left: 82, right: 40 } });
  assert.equal(sub.status, 200, sub.body.toString());
  assert.deepEqual(sub.json(), { result: 42 });
  assert.equal(sub.headers['content-type'], 'application/json');
  assert.match(String(sub.headers['x-ms-ccf-transaction-id']), /^2\.\d+$/);

  const mul = await app('/app/compute2/mul/5/7');
  assert.equal(mul.status, 200, mul.body.toString());
  assert.deepEqual(mul.json(), { result: 35 });

  const badOperand = await app('/app/compute', { method: 'POST', json: { op: 'add', left: 'one', right: 2 } });
  assert.equal(badOperand.status, 400);
  assert.deepEqual(badOperand.json(), { error: 'invalid operand type' });
  const badParam = await app('/app/compute2/add/x/7');
  assert.equal(badParam.status, 400);
  assert.deepEqual(badParam.json(), { error: 'left operand is not a parseable number' });
  const unknownOp = await app('/app/compute', { method: 'POST', json: { op: 'pow', left: 1, right: 2 } });
  assert.deepEqual([unknownOp.status, unknownOp.json()], [400, { error: 'unknown op' }]);

  const anonymous = await app('/app/compute', { method: 'POST', json: { op: 'sub', left: 1, right: 1 }, anonymous: true });
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.json().error.code, 'InvalidAuthenticationInfo');
  assert.equal(anonymous.json().error.message, 'Invalid authentication credentials.');
  // CCF's reason (cert_auth.cpp); only jwt and user_cose_sign1 add www-authenticate in CCF, so user_cert alone adds none.
  assert.deepEqual(anonymous.json().error.details, [{ auth_policy: 'user_cert', code: 'InvalidAuthenticationInfo', message: 'No caller user certificate' }]);
  assert.equal(anonymous.headers['www-authenticate'], undefined);

  const notJson = await app('/app/compute', { method: 'POST', body: Buffer.from('{not json'), headers: { 'content-type': 'application/json' } });
  assert.equal(notJson.status, 500);
  assert.deepEqual(notJson.json(), { error: { code: 'InternalError', message: 'Exception thrown while executing.' } });

  const wrongVerb = await app('/app/compute');
  assert.equal(wrongVerb.status, 405);
  // CCF lists OPTIONS first (src/node/rpc/frontend.h).
  assert.equal(wrongVerb.headers.allow, 'OPTIONS, POST');
  assert.equal(wrongVerb.json().error.code, 'UnsupportedHttpVerb');
  assert.equal(wrongVerb.json().error.message, "Allowed methods for '/compute' are: OPTIONS, POST.");
  const options = await app('/app/compute', { method: 'OPTIONS' });
  assert.equal(options.status, 204);
  assert.equal(options.headers.allow, 'OPTIONS, POST');
  const unknown = await app('/app/nothing');
  assert.deepEqual([unknown.status, unknown.json().error], [404, { code: 'ResourceNotFound', message: 'Unknown path: /nothing.' }]);

  const api = (await app('/app/api', { anonymous: true })).json();
  assert.equal(api.openapi, '3.0.0');
  assert.ok(api.paths['/app/compute'].post.requestBody, 'the endpoint’s openapi is merged');
  await SwaggerParser.validate(structuredClone(api));

  await pass({ actions: [{ name: 'remove_js_app', args: {} }] });
  const gone = await app('/app/compute', { method: 'POST', json: { op: 'sub', left: 82, right: 40 } });
  assert.equal(gone.status, 404);
  assert.equal((await app('/v1/health', { anonymous: true })).status, 200);
});
