// HTTP details of CCF's frontends, as CCF's tests check them (microsoft/CCF tests/*.py, named at each
// test): routing of paths outside /app, GET /, the allow header, Accept negotiation, verbs in
// /gov/service/javascript-app.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { REPO, type TestNode, startNode } from '../helpers/cli.js';
import { API, member } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'] });
  const [m0, m1] = [member(node, 'm0'), member(node, 'm1')];
  // The math app of the seed (test/fixtures/math-proposal.json): POST /compute with user_cert.
  const p = (await m0.propose(JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'math-proposal.json'), 'utf8')))).json();
  await m0.vote(p.proposalId, ACCEPT_BALLOT);
  assert.equal((await m1.vote(p.proposalId, ACCEPT_BALLOT)).json().proposalState, 'Accepted');
});
after(() => node.cleanup());

const alice = (path: string, init: { method?: string; json?: unknown; headers?: Record<string, string> } = {}) =>
  https(`https://127.0.0.1:${node.ports.https}${path}`, { ...node.identity('alice'), ca: node.ca }, init);
const anon = (path: string, init: { method?: string; headers?: Record<string, string> } = {}) => https(`https://127.0.0.1:${node.ports.https}${path}`, { ca: node.ca }, init);

test('a path whose first segment names no frontend goes to the app, unchanged (tests/e2e_logging.py test_protocols: /log/private)', async () => {
  const prefixed = await alice('/app/compute', { method: 'POST', json: { op: 'sub', left: 82, right: 40 } });
  const plain = await alice('/compute', { method: 'POST', json: { op: 'sub', left: 82, right: 40 } });
  assert.deepEqual([plain.status, plain.json()], [prefixed.status, prefixed.json()]);
  assert.deepEqual(plain.json(), { result: 42 });
  // GET / is the app's "/": 404 with CCF's message, to a caller with or without a certificate (not 401).
  for (const get of [anon, alice]) {
    const root = await get('/');
    assert.deepEqual([root.status, root.json().error], [404, { code: 'ResourceNotFound', message: 'Unknown path: /.' }]);
  }
  // Tessera's own namespaces stay Tessera's.
  assert.equal((await alice('/v1/nothing-here')).json().error.code, 'ResourceNotFound');
});

test('405 lists OPTIONS first in allow, and OPTIONS gets 204 with it (src/node/rpc/frontend.h; tests/e2e_logging.py test_allow_headers)', async () => {
  for (const path of ['/app/compute', '/compute']) {
    const wrong = await alice(path);
    assert.deepEqual([wrong.status, wrong.headers.allow, wrong.json().error], [405, 'OPTIONS, POST', { code: 'UnsupportedHttpVerb', message: "Allowed methods for '/compute' are: OPTIONS, POST." }]);
    const options = await alice(path, { method: 'OPTIONS' });
    assert.deepEqual([options.status, options.headers.allow], [204, 'OPTIONS, POST']);
  }
});

test('Accept: JSON endpoints answer 406 for no acceptable type and 400 for a malformed header (tests/e2e_logging.py test_accept_header)', async () => {
  const none = await anon('/node/commit', { headers: { accept: 'text/html' } });
  assert.deepEqual([none.status, none.json().error], [406, { code: 'UnsupportedContentType', message: 'No supported content type in accept header: text/html\nOnly application/json is currently supported' }]);
  const malformed = await anon('/node/commit', { headers: { accept: 'nonsense' } });
  assert.deepEqual([malformed.status, malformed.json().error], [400, { code: 'InvalidHeaderValue', message: 'Entry in Accept header is not a valid MIME type: nonsense' }]);
  const badQ = await anon('/app/commit', { headers: { accept: 'application/json;q=abc' } });
  assert.deepEqual([badQ.status, badQ.json().error.code], [400, 'InvalidHeaderValue']);
  for (const accept of ['application/json', 'application/*', '*/*', 'text/html;q=0.9, application/json;q=0.1']) {
    assert.equal((await anon('/node/commit', { headers: { accept } })).status, 200, accept);
  }
  // A header present but empty lists no type at all, so CCF (json_handler.cpp) finds no match: 406.
  assert.equal((await anon('/node/commit', { headers: { accept: '' } })).status, 406);
  assert.equal((await anon(`/gov/service/members?${API}`, { headers: { accept: 'text/plain' } })).status, 406);
});

test('/gov/service/javascript-app keys each verb upper case, as CCF names it (service_state.h: RESTVerb::c_str)', async () => {
  const app = (await anon(`/gov/service/javascript-app?${API}`)).json();
  assert.deepEqual(Object.keys(app.endpoints['/compute']), ['POST']);
  assert.equal(app.endpoints['/compute'].POST.jsFunction, 'compute');
  const original = (await anon(`/gov/service/javascript-app?${API}&case=original`)).json();
  assert.deepEqual(Object.keys(original.endpoints['/compute']), ['POST']);
  assert.equal(original.endpoints['/compute'].POST.js_function, 'compute');
});
