// One error path (issue 17, "What to build" 4): every error reply, whichever service threw it, is made in
// one place (src/http/replies.ts) from the error's stable code (src/errors/). These tests pin the replies
// byte for byte (status, the headers that belong to the error, content type and body), as CCF gives them:
// the app frontend's errors and historical answers (src/apps/js_generic_base / src/node/rpc/frontend.h,
// src/node/historical_queries_adapter.cpp), the common /receipt endpoint, and governance's named codes
// (src/node/gov/handlers/proposals.h). They were written against the code before the refactor and pass
// on it unchanged.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ERROR_CODES } from '../src/errors/index.js';
import { REPO, type TestNode, startNode } from './helpers/cli.js';
import { API } from './helpers/gov.js';
import { https, type HttpsReply } from './helpers/https-client.js';
import { deploy } from './ccf/support.js';

let node: TestNode;

const MODULE = `
export function hello() { return { body: 'hi' }; }
export function throws() { throw new Error('kaput'); }
export function notObject() { return 5; }
export function hist() { return { body: 'past' }; }
`;
const endpoint = (js_function: string, authn_policies: unknown[] = ['no_auth'], mode = 'readonly') => ({ js_module: 'errors.js', js_function, mode, authn_policies, forwarding_required: 'never' });

before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'] });
  await deploy(node, {
    metadata: {
      endpoints: {
        '/hello': { get: endpoint('hello', ['user_cert']) },
        '/jwt': { get: endpoint('hello', ['jwt']) },
        '/throws': { get: endpoint('throws') },
        '/not-object': { get: endpoint('notObject') },
        '/hist': { get: endpoint('hist', ['no_auth'], 'historical') },
        '/amb/{a}': { get: endpoint('hello') },
        '/amb/{b}': { get: endpoint('hello') },
      },
    },
    modules: [{ name: 'errors.js', module: MODULE }],
  });
});
after(() => node.cleanup());

const call = (path: string, init: { method?: string; headers?: Record<string, string> } = {}) =>
  https(`https://127.0.0.1:${node.ports.https}${path}`, { ...node.identity('alice'), ca: node.ca }, init);

/** The reply as a caller sees it: status, the error's own headers, content type and the exact body. */
function seen(r: HttpsReply, headers: string[] = []) {
  return { status: r.status, contentType: r.headers['content-type'], ...Object.fromEntries(headers.map((h) => [h, r.headers[h]])), body: r.body.toString('utf8') };
}
const ccfError = (code: string, message: string, details?: unknown[]) => JSON.stringify({ error: { code, message, ...(details ? { details } : {}) } });
const APP_JSON = 'application/json';
const FASTIFY_JSON = 'application/json; charset=utf-8';

test('the app frontend: unknown path 404, 405 with allow, OPTIONS 204, as CCF (tests/e2e_logging.py test_allow_headers)', async () => {
  assert.deepEqual(seen(await call('/app/nothing'), ['allow']), { status: 404, contentType: APP_JSON, allow: undefined, body: ccfError('ResourceNotFound', 'Unknown path: /nothing.') });
  assert.deepEqual(seen(await call('/app/hello', { method: 'POST' }), ['allow']), {
    status: 405,
    contentType: APP_JSON,
    allow: 'OPTIONS, GET',
    body: ccfError('UnsupportedHttpVerb', "Allowed methods for '/hello' are: OPTIONS, GET."),
  });
  assert.deepEqual(seen(await call('/app/hello', { method: 'OPTIONS' }), ['allow']), { status: 204, contentType: undefined, allow: 'OPTIONS, GET', body: '' });
  assert.deepEqual(seen(await call('/app/amb/z')), { status: 500, contentType: APP_JSON, body: ccfError('InternalError', 'Multiple potential matches for path: /amb/z\n/amb/{a}\n/amb/{b}') });
});

test('the app frontend: authentication failures are 401 with one detail per policy and the last policy\'s challenge (src/endpoints/authentication/jwt_auth.cpp)', async () => {
  const r = await call('/app/jwt');
  assert.deepEqual(seen(r, ['www-authenticate']), {
    status: 401,
    contentType: APP_JSON,
    'www-authenticate': 'Bearer realm="JWT bearer token access", error="invalid_token"',
    body: ccfError('InvalidAuthenticationInfo', 'Invalid authentication credentials.', [{ auth_policy: 'jwt', code: 'InvalidAuthenticationInfo', message: 'Malformed JWT: must contain exactly 3 parts' }]),
  });
});

test('the app frontend: a handler that fails gets CCF\'s 500 with CCF\'s words (src/apps/js_generic_base.cpp)', async () => {
  assert.deepEqual(seen(await call('/app/throws')), { status: 500, contentType: APP_JSON, body: ccfError('InternalError', 'Exception thrown while executing.') });
  assert.deepEqual(seen(await call('/app/not-object')), { status: 500, contentType: APP_JSON, body: ccfError('InternalError', 'Invalid endpoint function return value (not an object).') });
});

test('historical endpoints: a missing or malformed id is 400, an invalid one 404, a pending one 404 with cache-control: no-cache (historical_queries_adapter.cpp)', async () => {
  const hist = (id?: string) => call('/app/hist', { headers: id === undefined ? {} : { 'x-ms-ccf-transaction-id': id } });
  const headers = ['cache-control', 'retry-after'];
  assert.deepEqual(seen(await hist(), headers), { status: 400, contentType: APP_JSON, 'cache-control': undefined, 'retry-after': undefined, body: ccfError('MissingRequiredHeader', 'Missing required header x-ms-ccf-transaction-id.') });
  assert.deepEqual(seen(await hist('abc'), headers), { status: 400, contentType: APP_JSON, 'cache-control': undefined, 'retry-after': undefined, body: ccfError('InvalidHeaderValue', "Unable to parse 'abc' as a transaction id (view.seqno).") });
  assert.deepEqual(seen(await hist('1.1'), headers), { status: 404, contentType: APP_JSON, 'cache-control': undefined, 'retry-after': undefined, body: ccfError('TransactionInvalid', 'Transaction 1.1 is invalid.') });
  assert.deepEqual(seen(await hist('2.999999'), headers), {
    status: 404,
    contentType: APP_JSON,
    'cache-control': 'no-cache',
    'retry-after': undefined,
    body: ccfError('TransactionPendingOrUnknown', 'Transaction 2.999999 is pending or unknown.'),
  });
});

test('/receipt: the same codes from the ledger, with no-cache on a pending transaction only (common_endpoint_registry.cpp)', async () => {
  const headers = ['cache-control'];
  assert.deepEqual(seen(await call('/app/receipt?transaction_id=2.999999'), headers), {
    status: 404,
    contentType: FASTIFY_JSON,
    'cache-control': 'no-cache',
    body: ccfError('TransactionPendingOrUnknown', 'Only committed transactions can be queried. Transaction 2.999999 is Unknown'),
  });
  assert.deepEqual(seen(await call('/app/receipt?transaction_id=nope'), headers), { status: 404, contentType: FASTIFY_JSON, 'cache-control': undefined, body: ccfError('TransactionInvalid', 'Could not extract Transaction Id') });
  assert.deepEqual(seen(await call('/app/tx?transaction_id=nope')), {
    status: 400,
    contentType: FASTIFY_JSON,
    body: ccfError('InvalidQueryParameterValue', "The value 'nope' passed as query parameter 'transaction_id' could not be converted to a valid Transaction ID."),
  });
});

test("Tessera's own prefixes keep Tessera's 404; governance's named codes keep CCF's status and code", async () => {
  assert.deepEqual(seen(await call('/node/nothing?x=1')), { status: 404, contentType: FASTIFY_JSON, body: ccfError('ResourceNotFound', 'no route GET /node/nothing') });
  assert.deepEqual(seen(await call('/v1/nothing')), { status: 404, contentType: FASTIFY_JSON, body: ccfError('ResourceNotFound', 'no route GET /v1/nothing') });
  const missing = 'a'.repeat(64);
  assert.deepEqual(seen(await call(`/gov/members/proposals/${missing}?${API}`)), { status: 404, contentType: FASTIFY_JSON, body: ccfError('ProposalNotFound', `Could not find proposal ${missing}.`) });
  const noVersion = await call(`/gov/members/proposals/${missing}`);
  assert.deepEqual([noVersion.status, noVersion.json().error.code], [400, 'MissingApiVersionParameter']);
});

/** The rows of the "Errors" table in docs/ARCHITECTURE.md: code → [HTTP status, CCF code, MesaTEE kind]. */
function documentedCodes(): Map<string, [number, string, string]> {
  const doc = readFileSync(join(REPO, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const start = doc.indexOf('\n## Errors\n');
  assert.ok(start >= 0, "docs/ARCHITECTURE.md has no '## Errors' section");
  const section = doc.slice(start + 1).split('\n## ')[0];
  const rows = new Map<string, [number, string, string]>();
  for (const line of section.split('\n')) {
    const m = /^\| `([a-z_]+)` \| (\d{3}) \| `([A-Za-z]+)` \| `([A-Za-z]+)` \|/.exec(line);
    if (m) {
      assert.ok(!rows.has(m[1]), `docs/ARCHITECTURE.md lists ${m[1]} twice`);
      rows.set(m[1], [Number(m[2]), m[3], m[4]]);
    }
  }
  return rows;
}

test('docs/ARCHITECTURE.md "Errors" lists every code with its three mappings, and nothing else', () => {
  const documented = documentedCodes();
  const actual = new Map(Object.entries(ERROR_CODES).map(([code, m]) => [code, [m.http, m.ccf, m.mesatee] as [number, string, string]]));
  const expectedRow = (code: string) => {
    const [http, ccf, mesatee] = actual.get(code)!;
    return `| \`${code}\` | ${http} | \`${ccf}\` | \`${mesatee}\` |`;
  };
  const missing = [...actual.keys()].filter((c) => !documented.has(c));
  assert.deepEqual(missing.map(expectedRow), [], 'codes missing from the table (rows to add)');
  assert.deepEqual([...documented.keys()].filter((c) => !actual.has(c)), [], 'rows for codes that do not exist');
  for (const [code, row] of documented) assert.deepEqual(row, actual.get(code), `the table's row for ${code} differs from src/errors/index.ts: ${expectedRow(code)}`);
});
