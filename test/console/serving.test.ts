import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { REPO, type TestNode, startNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';

// How the node serves the console: to anyone (it is static and public, like /v1/api), with a policy that
// keeps its page to this node's own scripts, precompressed, and with a first view under 200 KB compressed.

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0'] });
});
after(() => node.cleanup());

const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;
const FIRST_VIEW_BUDGET = 200 * 1024;

test('the console is served without an identity, with a content security policy and no framing', async () => {
  const page = await https(url('/console/'), { ca: node.ca });
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.match(page.body.toString(), /<script type="module" src="assets\/main\.js">/);
  const csp = String(page.headers['content-security-policy']);
  for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(directive), `CSP lacks ${directive}: ${csp}`);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  const bare = await https(url('/console'), { ca: node.ca });
  assert.equal(bare.status, 301);
  assert.equal(bare.headers.location, '/console/');
  const missing = await https(url('/console/assets/no-such-file.js'), { ca: node.ca });
  assert.equal(missing.status, 404);
});

test('scripts go out precompressed, and the first view is under 200 KB compressed, measured on the wire', async () => {
  const built = JSON.parse(readFileSync(join(REPO, 'dist', 'console', 'build.json'), 'utf8')) as { first_view_files: string[] };
  assert.ok(built.first_view_files.includes('assets/main.js'));
  let wire = 0;
  for (const file of built.first_view_files) {
    const gz = await https(url(`/console/${file}`), { ca: node.ca }, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.status, 200, file);
    assert.equal(gz.headers['content-encoding'], 'gzip', file);
    assert.deepEqual(gunzipSync(gz.body), readFileSync(join(REPO, 'dist', 'console', file)), `${file}: the gzip copy is the file`);
    wire += gz.body.length;
    const br = await https(url(`/console/${file}`), { ca: node.ca }, { headers: { 'accept-encoding': 'br' } });
    assert.equal(br.headers['content-encoding'], 'br', file);
    assert.deepEqual(brotliDecompressSync(br.body), readFileSync(join(REPO, 'dist', 'console', file)));
  }
  assert.ok(wire < FIRST_VIEW_BUDGET, `the first view's script is ${wire} bytes gzip, over ${FIRST_VIEW_BUDGET}`);
});

test('GET /v1/whoami names the caller the node authenticated', async () => {
  const alice = await https(url('/v1/whoami'), { ...node.identity('alice'), ca: node.ca });
  assert.equal(alice.status, 200);
  assert.deepEqual({ name: alice.json().name, role: alice.json().role }, { name: 'alice', role: 'user' });
  assert.match(alice.json().cert_id, /^[0-9a-f]{64}$/);
  const m0 = join(identitiesDirOf(node.dir), 'm0');
  const member = await https(url('/v1/whoami'), { cert: readFileSync(join(m0, 'cert.pem'), 'utf8'), key: readFileSync(join(m0, 'key.pem'), 'utf8'), ca: node.ca });
  assert.deepEqual({ name: member.json().name, role: member.json().role }, { name: 'm0', role: 'member' });
  const anonymous = await https(url('/v1/whoami'), { ca: node.ca });
  assert.equal(anonymous.status, 401);
  const noToken = await https(url('/v1/whoami'), { cert: node.identity('alice').cert, key: node.identity('alice').key, ca: node.ca });
  assert.equal(noToken.status, 401);
  assert.match(noToken.json().error.message, /Authorization: Bearer/);
});
