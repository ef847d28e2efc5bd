// Property-based fuzzing of every input a node parses: wire framing and every wire message type, every
// REST body the OpenAPI document lists, COSE envelopes, app bundles, func.yaml, workflow specs, WASM modules and uploaded
// ciphertext. Each input must get a clear error (4xx with a message, or a wire Error), the node must
// stay up, and an input that is refused must change nothing (the last committed transaction stays).
// TESSERA_FUZZ_RUNS sets inputs per target (100 here, more in `npm run test:long`);
// TESSERA_FUZZ_REPORT=FILE writes the counts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, test } from 'node:test';
import { encode } from 'cbor-x';
import fc from 'fast-check';
import { packDirectory } from '../../src/packaging/package.js';
import { stringify } from 'yaml';
import { type TestNode, startNode } from '../helpers/cli.js';
import { member } from '../helpers/gov.js';
import { jsFunction } from '../helpers/workflows.js';
import { https } from '../helpers/https-client.js';
import { WireClient } from '../helpers/wire-client.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

const RUNS = Number(process.env.TESSERA_FUZZ_RUNS ?? 100);
const tried: Record<string, { inputs: number; accepted: number }> = {};

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'], members: ['m0'], config: (c) => ((c.log.level = 'warn'), (c.fn = { allow_direct_deploy: true, max_unused_packages: 100000 })) });
});
after(async () => {
  await node?.cleanup();
  const lines = Object.entries(tried).map(([target, n]) => `${target}: ${n.inputs} inputs, ${n.accepted} accepted as valid`);
  process.stdout.write(`# fuzz inputs per target\n${lines.map((l) => `#   ${l}`).join('\n')}\n`);
  if (process.env.TESSERA_FUZZ_REPORT) writeFileSync(process.env.TESSERA_FUZZ_REPORT, JSON.stringify(tried, null, 2));
});

const id = (user: string) => ({ ...node.identity(user), ca: node.ca });
const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;
const commit = async () => (await https(url('/app/commit'), id('alice'))).json().transaction_id as string;

/**
 * Runs `send` on RUNS generated inputs. A refused input (`refused` true) must come with a clear message
 * and leave the last committed transaction where it was; the node must answer its health check after.
 */
async function fuzz<T>(target: string, arb: fc.Arbitrary<T>, send: (input: T) => Promise<{ refused: boolean; message: string; status?: number }>, opts: { consumes?: boolean } = {}) {
  const count = (tried[target] = { inputs: 0, accepted: 0 });
  let last = await commit();
  await fc.assert(
    fc.asyncProperty(arb, async (input) => {
      count.inputs++;
      const outcome = await send(input);
      if (!outcome.refused) {
        count.accepted++;
        last = await commit();
        return;
      }
      assert.ok(outcome.status === undefined || (outcome.status >= 400 && outcome.status < 500), `${target}: a bad input got ${outcome.status}: ${outcome.message}`);
      assert.ok(outcome.message.length > 10, `${target}: the error says what is wrong (${JSON.stringify(outcome.message)})`);
      if (opts.consumes) last = await commit();
      else assert.equal(await commit(), last, `${target}: a refused input changed the store`);
    }),
    { numRuns: RUNS },
  );
  assert.equal((await https(url('/v1/health'), { ca: node.ca })).status, 200);
}

const json = fc.jsonValue({ maxDepth: 3 });
const restOutcome = (r: Awaited<ReturnType<typeof https>>) => {
  let message = r.body.toString();
  try {
    message = r.json().error?.message ?? message;
  } catch {}
  return { refused: r.status >= 400, status: r.status, message };
};

test('wire framing: random byte streams on a wire listener', async () => {
  const alice = id('alice');
  await fuzz('wire framing (tms_external)', fc.uint8Array({ minLength: 1, maxLength: 64 }), async (bytes) => {
    const socket = connect({ host: '127.0.0.1', port: node.ports.tms_external, cert: alice.cert, key: alice.key, ca: node.ca, servername: 'localhost' });
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    const reply = await new Promise<Buffer>((resolve) => {
      const got: Buffer[] = [];
      socket.on('data', (d: Buffer) => got.push(d));
      socket.once('close', () => resolve(Buffer.concat(got)));
      socket.end(Buffer.from(bytes));
    });
    // A stream that ends mid-frame, or declares too much, hears why; a whole frame of junk gets an Error.
    const text = reply.subarray(8).toString();
    return { refused: true, message: reply.length > 8 ? JSON.parse(text).message : 'closed without a frame: the stream held no request' };
  });
});

const WIRE: Array<{ listener: string; types: string[]; who: 'alice' | 'service' }> = [
  { listener: 'tms_external', types: ['Create', 'Get', 'Update', 'List'], who: 'alice' },
  { listener: 'tms_internal', types: ['Get', 'Update'], who: 'service' },
  { listener: 'fns', types: [], who: 'alice' },
  { listener: 'kms', types: ['Create', 'Get', 'Delete'], who: 'service' },
  { listener: 'tdfs_external', types: ['Create', 'Get', 'List', 'Delete'], who: 'alice' },
  { listener: 'tdfs_internal', types: ['Create', 'Get'], who: 'service' },
];
for (const w of WIRE) {
  test(`wire messages: every message type of ${w.listener}, with random fields`, async () => {
    const who = w.who === 'service' ? { ...node.service, ca: node.ca } : id('alice');
    const client = await WireClient.connect(node.ports[w.listener], { cert: who.cert, key: who.key, ca: node.ca });
    const field = fc.oneof(json, fc.constantFrom('alice', node.identity('alice').token, '', 'AES_GCM_128'));
    const message = fc.oneof(
      json,
      fc.dictionary(fc.constantFrom('type', 'user_id', 'user_token', 'task_id', 'file_id', 'key_id', 'function_name', 'files', 'collaborator_list', 'payload', 'task_token', 'enc_type', 'sha256', 'file_size', 'file_name'), field).map((m) => (w.types.length ? { ...m, type: m.type ?? w.types[0] } : m)),
      ...w.types.map((type) => fc.dictionary(fc.string({ maxLength: 12 }), field).map((m) => ({ ...m, type }))),
    );
    try {
      await fuzz(`wire ${w.listener} messages`, message, async (m) => {
        const reply = await client.request(m as Record<string, unknown>);
        return { refused: reply.type === 'Error', message: String(reply.message ?? '') };
      });
    } finally {
      client.close();
    }
  });
}

test('REST bodies: every JSON body route in the OpenAPI document', async () => {
  const api = (await https(url('/v1/api'), id('alice'))).json();
  type Op = { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> } };
  const routes = Object.entries(api.paths as Record<string, Record<string, Op>>).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(([, op]) => op.requestBody?.content?.['application/json'])
      .map(([method, op]) => ({ method: method.toUpperCase(), path, fields: Object.keys(op.requestBody!.content!['application/json'].schema?.properties ?? {}) })),
  );
  assert.ok(routes.length >= 7, `the OpenAPI document lists the JSON routes (${routes.map((r) => r.path).join(', ')})`);
  const uuid = '00000000-0000-4000-8000-000000000000';
  for (const route of routes) {
    const path = route.path.replace(/\{[^}]+\}/g, uuid);
    // Random JSON, and near misses: the route's own fields (plus prototype keys) with wrong, huge or odd values.
    const value = fc.oneof(json, fc.string({ maxLength: 3000 }), fc.constantFrom(null, -1, 2 ** 53, 1e308, '\u0000', 'alice', uuid, '../../etc/passwd'));
    const nearMiss = fc.dictionary(fc.constantFrom(...route.fields, '__proto__', 'constructor', 'prototype'), value);
    await fuzz(`REST ${route.method} ${route.path}`, fc.oneof(json, nearMiss), async (body) => restOutcome(await https(url(path), id('alice'), { method: route.method, json: body })));
  }
});

test('COSE envelopes: random CBOR and random bytes to governance', async () => {
  const cose = fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), json.map((v) => Buffer.from(encode(v))), fc.tuple(json, json, json, json).map((t) => Buffer.from(encode(t))));
  const base = join(identitiesDirOf(node.dir), 'm0');
  const m0 = { cert: readFileSync(join(base, 'cert.pem'), 'utf8'), key: readFileSync(join(base, 'key.pem'), 'utf8'), ca: node.ca };
  for (const path of ['/gov/members/proposals:create', '/gov/members/state-digests/m0:update', '/gov/members/proposals/0000/ballots/m0:submit']) {
    await fuzz(`COSE ${path}`, cose, async (body) => restOutcome(await https(url(`${path}?api-version=2024-07-01`), m0, { method: 'POST', body, headers: { 'content-type': 'application/cose' } })));
  }
});

test('app bundles and their app.json, in signed set_js_app proposals', async () => {
  const m0 = member(node, 'm0');
  const endpointInfo = fc.record({ js_module: fc.oneof(fc.constant('app.js'), fc.string()), js_function: fc.oneof(fc.constant('f'), fc.string()), mode: fc.oneof(fc.constantFrom('readonly', 'readwrite', 'historical'), json), authn_policies: fc.oneof(fc.constant(['no_auth']), json), forwarding_required: fc.oneof(fc.constant('never'), json) }, { requiredKeys: [] });
  const metadata = fc.oneof(json, fc.record({ endpoints: fc.oneof(json, fc.dictionary(fc.string({ maxLength: 20 }), fc.dictionary(fc.constantFrom('get', 'post', 'put', 'delete', 'GET', 'fetch'), fc.oneof(endpointInfo, json)))) }));
  const modules = fc.oneof(json, fc.array(fc.record({ name: fc.oneof(fc.constant('app.js'), fc.string(), json), module: fc.oneof(fc.constant('export function f() {}'), fc.string(), json) }, { requiredKeys: [] }), { maxLength: 3 }));
  const bundle = fc.oneof(json, fc.record({ metadata, modules }, { requiredKeys: [] }));
  await fuzz('app bundles (set_js_app)', bundle, async (b) => restOutcome(await m0.propose({ actions: [{ name: 'set_js_app', args: { bundle: b } }] })));
});

test('func.yaml: random YAML and near-miss function definitions, registered directly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-fuzz-fn-'));
  const field = fc.oneof(json, fc.string({ maxLength: 40 }), fc.constantFrom('node', 'binary', 'http-stream', '/hello', 0, -1, 1e9));
  const nearMiss = fc.dictionary(fc.constantFrom('schema_version', 'name', 'version', 'runtime', 'entrypoint', 'format', 'memory', 'timeout', 'idle_timeout', 'config', 'triggers', 'expects', 'annotations', 'bogus'), field);
  const text = fc.oneof(fc.string({ maxLength: 200 }), json.map((v) => stringify(v)), nearMiss.map((v) => stringify(v)));
  try {
    await fuzz('func.yaml', text, async (yaml) => {
      writeFileSync(join(dir, 'func.yaml'), yaml);
      const { bytes } = await packDirectory(dir);
      const uploaded = await https(url('/v1/fn/packages'), id('alice'), { method: 'PUT', body: bytes, headers: { 'content-type': 'application/x-tar' } });
      if (uploaded.status !== 201) return restOutcome(uploaded);
      return restOutcome(await https(url('/v1/fns'), id('alice'), { method: 'POST', json: { package: uploaded.json().digest, app: 'fuzz' } }));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('raw bodies passed through to app handlers and workflow ingress, with any content type', async () => {
  const m0 = member(node, 'm0');
  const APP = 'export function echo(request) { const b = request.body.arrayBuffer(); let j = null; try { j = request.body.json(); } catch (e) {} return { body: { bytes: b.byteLength, json: j === null ? null : typeof j } }; }';
  const endpoint = { js_module: 'echo.js', js_function: 'echo', forwarding_required: 'never', authn_policies: ['user_cert'], mode: 'readonly' };
  const p = (await m0.propose({ actions: [{ name: 'set_js_app', args: { bundle: { metadata: { endpoints: { '/echo': { post: endpoint } } }, modules: [{ name: 'echo.js', module: APP }] } } }] })).json();
  assert.equal((await m0.vote(p.proposalId, 'export function vote() { return true; }')).status, 200);
  const wf = { functions: [jsFunction('in', 'export function handle_call(src, msg) { return JSON.stringify({ status: 200, headers: {}, body: [msg.length % 256] }); }')], resources: [{ name: 'ingress', class_type: 'http-ingress', output_mapping: { new_request: 'in' }, configurations: { host: '127.0.0.1', method: 'POST' } }] };
  assert.equal((await https(url('/v1/workflows'), id('alice'), { method: 'POST', json: { spec: wf, name: 'fuzz-ingress' } })).status, 201);
  const raw = fc.record({ body: fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)), type: fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/cose', '*/*', ';;;') });
  for (const path of ['/app/echo', '/ingress/fuzz']) {
    await fuzz(`raw bodies to ${path}`, raw, async ({ body, type }) => {
      const r = await https(url(path), id('alice'), { method: 'POST', body, headers: { 'content-type': type } });
      // These reach code that parses its own input: the node's part is to pass them through and stay up.
      assert.ok(r.status < 500, `${path} answered ${r.status}: ${r.body.toString().slice(0, 200)}`);
      return { refused: r.status >= 400, status: r.status, message: restOutcome(r).message };
    }, { consumes: true });
  }
});

test('workflow specs and WASM modules', async () => {
  await fuzz('workflow JSON', fc.oneof(json, fc.record({ functions: fc.array(json, { maxLength: 3 }), resources: fc.array(json, { maxLength: 2 }) })), async (spec) =>
    restOutcome(await https(url('/v1/workflows'), id('alice'), { method: 'POST', json: { spec } })),
  );
  await fuzz('WASM modules', fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), Buffer.from(b)])), async (module) => {
    const fn = { ...jsFunction('w', ''), class_specification: { id: 'w', function_type: 'WASM', version: '0.1', binary: module.toString('base64'), outputs: [] } };
    return restOutcome(await https(url('/v1/workflows'), id('alice'), { method: 'POST', json: { spec: { functions: [fn], resources: [] } } }));
  });
});

test('uploaded ciphertext: random bytes for a pending file are refused, and consume only that file and its key', async () => {
  // By design a failed upload removes its file and key (docs/files-and-tasks.md: a retry under the same
  // nonce would break GCM), so each input gets a new file, and the check is that only it went.
  const files = async () => (await https(url("/v1/files"), id("alice"))).json().files as string[];
  const before = await files();
  await fuzz(
    'uploaded ciphertext',
    fc.uint8Array({ maxLength: 96 }).map((b) => Buffer.from(b)),
    async (body) => {
      const created = (await https(url('/v1/files'), id('alice'), { method: 'POST', json: { file_name: 'f.bin', sha256: 'a'.repeat(64), file_size: 32 } })).json();
      const outcome = restOutcome(await https(created.access_path, id('alice'), { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } }));
      assert.equal((await https(url(`/v1/files/${created.file_id}`), id('alice'))).status, 404, 'the failed file is gone');
      return outcome;
    },
    { consumes: true },
  );
  assert.deepEqual(await files(), before, "alice's other files are as they were");
});
