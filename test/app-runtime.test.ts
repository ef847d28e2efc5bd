import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ACCEPT_BALLOT } from '../src/sdk/member.js';
import { type TestNode, startNode } from './helpers/cli.js';
import { member, passProposal } from './helpers/gov.js';
import { https } from './helpers/https-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'] });
});
after(() => node.cleanup());

const pass = (actions: unknown[]) => passProposal(node, actions);

const source = (tag: string) => `
let calls = 0;
export function count() { calls++; console.log('${tag} call', calls, { tag: '${tag}' }); return { body: { calls, tag: '${tag}' } }; }
export function quiet() { ccf.enableMetricsLogging(false); return { body: 'shh' }; }`;
const ep = (fn: string, reuse?: string) => ({ js_module: 'r.js', js_function: fn, forwarding_required: 'never', authn_policies: ['no_auth'], mode: 'readonly', ...(reuse ? { interpreter_reuse: { key: reuse } } : {}) });
const bundle = (tag: string) => ({
  metadata: { endpoints: { '/fresh': { get: ep('count') }, '/kept': { get: ep('count', 'shared') }, '/quiet': { get: ep('quiet') }, '/a/{x}': { get: ep('count') }, '/{y}/b': { get: ep('count') } } },
  modules: [{ name: 'r.js', module: source(tag) }],
});
const get = (path: string) => https(`https://127.0.0.1:${node.ports.https}/app${path}`, { ca: node.ca });

test('interpreter_reuse keeps globals between requests; without it every request is fresh; a deployment evicts them', async () => {
  await pass([{ name: 'set_js_app', args: { bundle: bundle('v1') } }]);
  assert.deepEqual([(await get('/fresh')).json().calls, (await get('/fresh')).json().calls], [1, 1]);
  assert.deepEqual([(await get('/kept')).json().calls, (await get('/kept')).json().calls, (await get('/kept')).json().calls], [1, 2, 3]);

  await pass([{ name: 'set_js_app', args: { bundle: bundle('v2'), disable_bytecode_cache: true } }]);
  const after = (await get('/kept')).json();
  assert.deepEqual(after, { calls: 1, tag: 'v2' }, 'the new deployment starts a new interpreter with the new code');
  await pass([{ name: 'refresh_js_app_bytecode_cache' }]);
  assert.equal((await get('/kept')).json().calls, 1, 'a bytecode refresh evicts kept interpreters too');
});

test('ambiguous templates give 500 naming each; metrics and console lines reach the log', async () => {
  await pass([{ name: 'set_js_app', args: { bundle: bundle('v3') } }]);
  const ambiguous = await get('/a/b');
  assert.equal(ambiguous.status, 500);
  assert.equal(ambiguous.json().error.message, 'Multiple potential matches for path: /a/b\n/a/{x}\n/{y}/b');
  await get('/fresh');
  await get('/quiet');
  await new Promise((r) => setTimeout(r, 200));
  const logs = node.logs();
  assert.match(logs, /JS execution complete: Method=GET, Path=\/app\/fresh, Status=200, ExecMilliseconds=\d+/);
  assert.doesNotMatch(logs, /Path=\/app\/quiet/, 'enableMetricsLogging(false) mutes the line');
  assert.match(logs, /"tag":"js".*v3 call 1 \{\\"tag\\":\\"v3\\"\}/);
});

test('set_jwt_public_signing_keys replaces an issuer’s keys', async () => {
  const key = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' };
  await pass([{ name: 'set_jwt_issuer', args: { issuer: 'https://jwks.example', jwks: { keys: [key] } } }]);
  await pass([{ name: 'set_jwt_public_signing_keys', args: { issuer: 'https://jwks.example', jwks: { keys: [{ ...key, kid: 'k2' }] } } }]);
  const m0 = member(node, 'm0');
  const bad = (await m0.propose({ actions: [{ name: 'set_jwt_public_signing_keys', args: { issuer: 'https://unknown.example', jwks: { keys: [key] } } }] })).json();
  await m0.vote(bad.proposalId, ACCEPT_BALLOT);
  const r = (await member(node, 'm1').vote(bad.proposalId, ACCEPT_BALLOT)).json();
  assert.equal(r.proposalState, 'Failed');
  assert.match(r.failure.reason, /no JWT issuer https:\/\/unknown.example/);
});

test('adjacent parameters match as CCF matches them, in time linear in the path: a 3,000-character path neither stalls the node nor its next request', { timeout: 10_000 }, async () => {
  // Before: `/{year}{month}{day}` compiled to a backtracking regex, and one such path that did not match
  // held the node for about 30 s; the 10 s timeout fails this test then.
  const params = 'export function params(request) { return { body: request.params }; }';
  const dated = { js_module: 'p.js', js_function: 'params', forwarding_required: 'never', authn_policies: ['no_auth'], mode: 'readonly' };
  await pass([{ name: 'set_js_app', args: { bundle: { metadata: { endpoints: { '/{year}{month}{day}': { get: dated }, '/v/{name}.{ext}': { get: dated }, '/fresh': { get: ep('count') } } }, modules: [{ name: 'p.js', module: params }, { name: 'r.js', module: source('v4') }] } } }]);
  const long = 'a'.repeat(3000);
  const started = performance.now();
  // Paths that almost fit are the slow case for a backtracking regex: each took seconds before.
  const [served, next, ...missed] = await Promise.all([get(`/${long}`), get('/fresh'), get(`/${long}/`), get(`/${long}/x`), get(`/${long}//`), get(`/${long}/b/c`)]);
  for (const r of missed) {
    assert.equal(r.status, 404, 'a path that does not fit the template is answered');
    assert.equal(r.json().error.code, 'ResourceNotFound');
  }
  assert.equal(served.status, 200);
  assert.deepEqual(served.json(), { year: 'a'.repeat(2998), month: 'a', day: 'a' });
  assert.equal(next.status, 200, 'the node answers another request alongside');
  assert.equal((await get('/fresh')).status, 200, 'and the one after');
  process.stdout.write(`# five requests with 3,000-character paths and one plain: ${(performance.now() - started).toFixed(0)} ms\n`);
  // Each parameter as long as the rest still matches, as CCF's greedy ([^/]+) groups choose.
  assert.deepEqual((await get('/20240131')).json(), { year: '202401', month: '3', day: '1' });
  assert.deepEqual((await get('/v/archive.tar.gz')).json(), { name: 'archive.tar', ext: 'gz' });
});

test('a template with an unclosed parameter is refused at deployment, naming the template', async () => {
  const bad = (await member(node, 'm0').propose({ actions: [{ name: 'set_js_app', args: { bundle: { metadata: { endpoints: { '/x/{id': { get: ep('count') } } }, modules: [{ name: 'r.js', module: source('v5') }] } } }] })).json();
  assert.equal(bad.error.code, 'ProposalFailedToValidate');
  assert.match(bad.error.message, /set_js_app: endpoint \/x\/\{id: '\{' without '\}'/);
});
