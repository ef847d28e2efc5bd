import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO, type TestNode, startNode } from '../helpers/cli.js';
import { passProposal } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';

// The JavaScript runtime against CCF's own test apps (test/fixtures/ccf-js-modules, ccf-js-api, from
// microsoft/CCF tests/js-modules and tests/js-api) and CCF's rules for modules, Math.random and Date
// (src/js/core/context.cpp, src/js/extensions/math/random.cpp, src/js/extensions/ccf/converters.cpp).

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['user0'], members: ['m0', 'm1', 'm2'] });
});
after(() => node?.cleanup());

/** A bundle as CCF's set_js_app_from_dir makes it: app.json, and each file under src/ named by its path there. */
function bundleFromDir(dir: string) {
  const src = join(dir, 'src');
  const files = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)]));
  return { metadata: JSON.parse(readFileSync(join(dir, 'app.json'), 'utf8')), modules: files(src).map((f) => ({ name: relative(src, f), module: readFileSync(f, 'utf8') })) };
}
const deploy = (bundle: unknown) => passProposal(node, [{ name: 'set_js_app', args: { bundle } }]);
const user0 = () => ({ cert: node.identity('user0').cert, key: node.identity('user0').key, ca: node.ca });
const app = (path: string, method = 'GET', json?: unknown) => https(`https://127.0.0.1:${node.ports.https}/app${path}`, user0(), { method, json });
const ep = (js_module: string, js_function: string, mode = 'readonly') => ({ js_module, js_function, forwarding_required: 'never', authn_policies: ['user_cert'], mode });

describe('modules (CCF tests/js-modules)', () => {
  test('a module imported by two others is one module: basic-module-import answers 201 "Hello world!"', async () => {
    await deploy(bundleFromDir(join(REPO, 'test', 'fixtures', 'ccf-js-modules', 'basic-module-import')));
    for (let i = 0; i < 3; i++) {
      const r = await app('/test_module', 'POST', {});
      assert.equal(r.status, 201, r.body.toString());
      assert.equal(r.body.toString(), 'Hello world!');
    }
  });

  test('import() loads a module into the same graph: dynamic-module-import answers 201 "Hello world!"', async () => {
    await deploy(bundleFromDir(join(REPO, 'test', 'fixtures', 'ccf-js-modules', 'dynamic-module-import')));
    for (let i = 0; i < 3; i++) {
      const r = await app('/test_module', 'POST', {});
      assert.equal(r.status, 201, r.body.toString());
      assert.equal(r.body.toString(), 'Hello world!');
    }
  });

  const marks = `export function mark() { ccf.kv['public:marks'].set(ccf.strToBuf('m'), ccf.strToBuf('written')); return { body: 'marked' }; }
export function count() { return { body: { size: ccf.kv['public:marks'].size } }; }`;
  const badApp = (modules: Record<string, string>) => ({
    metadata: { endpoints: { '/mark': { post: ep('entry.js', 'mark', 'readwrite') }, '/count': { get: ep('marks.js', 'count') } } },
    modules: Object.entries({ 'marks.js': marks, ...modules }).map(([name, module]) => ({ name, module })),
  });
  const marksWritten = async () => (await app('/count')).json().size;

  test('a missing module: 500 with the message CCF gives, and nothing is written', async () => {
    await deploy(badApp({ 'entry.js': "import { helper } from './lib/helper.js';\nexport { mark } from './marks.js';", 'lib/helper.js': "import './absent.js';\nexport const helper = 1;" }));
    const before = await marksWritten();
    const r = await app('/mark', 'POST');
    assert.equal(r.status, 500);
    assert.deepEqual(r.json(), { error: { code: 'InternalError', message: "Failed to resolve dependencies for module '/entry.js': ReferenceError: Failed to resolve dependencies for module 'lib/helper.js': null" } });
    assert.equal(await marksWritten(), before);
  });

  test('a module cycle links as in CCF; one that reads a binding before it is set fails as CCF, and nothing is written', async () => {
    await deploy(badApp({ 'entry.js': "import { b } from './b.js';\nexport { mark } from './marks.js';\nexport const a = 'a';", 'b.js': "import { a } from './entry.js';\nexport const b = () => a;" }));
    const fine = await app('/mark', 'POST');
    assert.equal(fine.status, 200, fine.body.toString());
    assert.equal(await marksWritten(), 1);
    // The app's tables outlive a deployment, as in CCF: clear the mark so that a write would show.
    await deploy(badApp({ 'entry.js': "export function mark() { ccf.kv['public:marks'].clear(); return { body: 'cleared' }; }" }));
    assert.equal((await app('/mark', 'POST')).status, 200);
    assert.equal(await marksWritten(), 0);

    await deploy(badApp({ 'entry.js': "import { b } from './b.js';\nexport { mark } from './marks.js';\nexport const a = 'a';", 'b.js': "import { a } from './entry.js';\nexport const b = a.toUpperCase();" }));
    const r = await app('/mark', 'POST');
    assert.equal(r.status, 500);
    assert.equal(r.json().error.code, 'InternalError');
    // CCF: "Failed to execute <js_module>: <the exception>"; the exception's words are V8's here, QuickJS's there.
    assert.match(r.json().error.message, /^Failed to execute \/entry\.js: ReferenceError: /);
    assert.equal(await marksWritten(), 0, 'the failed request wrote nothing');
  });

  test('bare specifiers name bundle modules from the root, as QuickJS resolves them', async () => {
    await deploy(badApp({ 'entry.js': "import { v } from 'lib/v.js';\nexport function mark() { return { body: v }; }", 'lib/v.js': "import { w } from '/lib/w.js';\nexport const v = 'v' + w;", 'lib/w.js': "export const w = 'w';" }));
    const r = await app('/mark', 'POST');
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.body.toString(), 'vw');
  });
});

describe('Math.random and Date (CCF tests/js-api)', () => {
  before(() => deploy(bundleFromDir(join(REPO, 'test', 'fixtures', 'ccf-js-api'))));

  test('Math.random works and does not repeat, within a request or across requests (CCF test_random_api)', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const r = await app('/make_randoms');
      assert.equal(r.status, 200, r.body.toString());
      for (const n of Object.values(r.json()) as number[]) {
        assert.ok(n >= 0 && n < 1, `${n} is in [0, 1)`);
        assert.ok(!seen.has(n), `${n} has already been returned`);
        seen.add(n);
      }
    }
  });

  test('new Date() is the clock, and enableUntrustedDateTime changes nothing, as in CCF 7 (CCF test_datetime_api)', async () => {
    const sent = Date.now();
    const r = await app('/time_now');
    const received = Date.now();
    assert.equal(r.status, 200, r.body.toString());
    const body = r.json();
    assert.equal(body.definitely_1970, '1970-01-01T00:00:00.000Z');
    const [now, on, off] = [body.definitely_now, body.untrusted_on, body.untrusted_off].map((s: string) => Date.parse(s));
    // The node and this test read the same machine's clock.
    assert.ok(sent <= now! && now! <= on! && on! <= off! && off! <= received, JSON.stringify(body));
  });
});
