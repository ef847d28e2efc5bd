import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ACCEPT_BALLOT, REJECT_BALLOT } from '../src/sdk/member.js';
import { identitiesDirOf } from '../src/node/datadir.js';
import { type CliResult, TEST_ENV, type TestNode, startNode, tempDir, tessera, tesseraCommand } from './helpers/cli.js';
import { member } from './helpers/gov.js';
import { https } from './helpers/https-client.js';

// `tessera app deploy|show|remove` against a real node, as a member would use them. The app directories
// are laid out as CCF's (doc/build_apps/js_app_bundle.rst: app.json beside src/; module names relative to
// src/, as tests/infra/consortium.py read_bundle_from_dir builds them).

let node: TestNode;
let m1: ReturnType<typeof member>, m2: ReturnType<typeof member>;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'] });
  [m1, m2] = ['m1', 'm2'].map((n) => member(node, n));
});
after(() => node.cleanup());

const flags = (m = 'm0') => ['-i', join(identitiesDirOf(node.dir), m), '--url', `https://127.0.0.1:${node.ports.https}`];

/** Writes `files` (path → text) under a fresh directory and returns it. */
function appDir(files: Record<string, string>): string {
  const dir = join(tempDir('tessera-app-'), 'app');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const endpoint = (module: string, fn: string, extra: Record<string, unknown> = {}) => ({ js_module: module, js_function: fn, forwarding_required: 'sometimes', authn_policies: ['user_cert'], mode: 'readonly', ...extra });

/** A small app with a module in a sub folder that another imports, and a dot file that is not a module. */
const greeter = (greeting: string) =>
  appDir({
    'app.json': JSON.stringify({ endpoints: { '/greet/{name}': { get: endpoint('app.js', 'greet', { interpreter_reuse: { key: 'g' } }) }, '/ping': { post: endpoint('app.js', 'ping') } } }),
    'src/app.js': `import { greeting } from './sub/greet.js';\nexport function greet(request) { return { body: greeting(request.params.name) }; }\nexport function ping() { return { statusCode: 201, body: 'pong' }; }\n`,
    'src/sub/greet.js': `export function greeting(name) { return '${greeting}, ' + name; }\n`,
    'src/.DS_Store': 'not a module',
  });

/** Runs the CLI in the background; `firstLine` resolves with its first line of output (the proposal). */
function running(args: string[]) {
  const [file, argv] = tesseraCommand(args);
  const proc = spawn(file, argv, { env: TEST_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let lineSeen: (line: string) => void;
  const firstLine = new Promise<string>((resolve) => (lineSeen = resolve));
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('\n')) lineSeen(stdout.split('\n')[0]);
    const lines = stdout.split('\n').length - 1;
    for (const w of waiting.filter((x) => lines >= x.n)) w.resolve();
  });
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => proc.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
  /** Resolves once the command has printed `n` lines. */
  const lines = (n: number) => new Promise<void>((resolve) => waiting.push({ n, resolve }));
  return { firstLine, lines, done };
}

const greet = (name: string) => {
  const alice = node.identity('alice');
  return https(`https://127.0.0.1:${node.ports.https}/app/greet/${name}`, { cert: alice.cert, key: alice.key, ca: node.ca });
};
const proposalCount = async () => (await m1.get('/gov/members/proposals')).json().value.length;

describe('tessera app deploy', () => {
  test('builds the bundle from the directory, proposes it, votes with --accept, waits with --wait for the other votes, and the app serves', async () => {
    const run = running(['app', 'deploy', greeter('Hello'), '--accept', '--wait', ...flags()]);
    const first = await run.firstLine;
    const [id, state] = first.split(/\s+/);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(state, 'Open');
    // m0's yes (--accept, its second line) is one of three: the command waits until m1's makes a majority.
    await run.lines(2);
    assert.equal((await m1.vote(id, ACCEPT_BALLOT)).json().proposalState, 'Accepted');
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${id}  Open  \\(0 ballots\\)  tx \\d+\\.\\d+\n${id}  Open  \\(1 ballot\\)  tx \\d+\\.\\d+\n${id}  Accepted  \\(2 ballots\\)\napp deployed: 2 endpoints answering under https://127\\.0\\.0\\.1:\\d+/app\n$`));
    assert.match(r.stderr, /bundle: 2 modules, 2 endpoints/);
    assert.doesNotMatch(r.stderr, /waiting for votes/, 'no progress line outside a terminal');

    // Module names are paths below src/, dot files left out (CCF's read_modules).
    assert.deepEqual((await m1.get('/gov/service/javascript-modules')).json(), { value: [{ moduleName: '/app.js' }, { moduleName: '/sub/greet.js' }] });
    const args = (await m1.get(`/gov/members/proposals/${id}/actions`)).json().actions[0].args;
    assert.equal(args.disable_bytecode_cache, false);
    const reply = await greet('alice');
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), 'Hello, alice');
  });

  test('tessera app show lists the deployed endpoints; --json gives them as the node does', async () => {
    const shown = await tessera(['app', 'show', ...flags('m2')]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual(shown.stdout.trimEnd().split('\n'), ['GET   /greet/{name}  app.js:greet  readonly  user_cert  interpreter_reuse=g', 'POST  /ping          app.js:ping   readonly  user_cert']);
    const json = JSON.parse((await tessera(['app', 'show', '--json', ...flags('m2')])).stdout);
    assert.equal(json.endpoints['/greet/{name}'].GET.js_function, 'greet');
    assert.deepEqual(json.endpoints['/ping'].POST.authn_policies, ['user_cert']);
  });

  test('--disable-bytecode-cache is carried in the proposal; without --wait the command prints the open proposal and exits 0', async () => {
    const r = await tessera(['app', 'deploy', greeter('Hi'), '--disable-bytecode-cache', ...flags()]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.split(/\s+/)[0];
    assert.match(r.stdout, new RegExp(`${id}  Open  \\(0 ballots\\)`));
    assert.match(r.stdout, new RegExp(`the proposal is Open: the constitution needs more votes\\. Members vote with\n  tessera gov vote ${id} --accept -i <their identity folder>\n\\(not voted yet: m0, m1, m2\\)`));
    assert.match(r.stderr, /bytecode cache disabled/);
    assert.equal((await m1.get(`/gov/members/proposals/${id}/actions`)).json().actions[0].args.disable_bytecode_cache, true);
    // Still the first app until the members vote.
    assert.equal((await greet('bob')).body.toString(), 'Hello, bob');
    await m1.vote(id, ACCEPT_BALLOT);
    assert.equal((await m2.vote(id, ACCEPT_BALLOT)).json().proposalState, 'Accepted');
    assert.equal((await greet('bob')).body.toString(), 'Hi, bob');
  });

  test('a bundle.json as ccf-build-bundle writes it is deployed as it is', async () => {
    const dir = tempDir('tessera-app-');
    const file = join(dir, 'bundle.json');
    writeFileSync(file, JSON.stringify({ metadata: { endpoints: { '/greet/{name}': { get: endpoint('main.js', 'greet') } } }, modules: [{ name: 'main.js', module: "export function greet(r) { return { body: 'Bundled ' + r.params.name }; }" }] }));
    const run = running(['app', 'deploy', file, '--accept', '--wait', ...flags()]);
    const id = (await run.firstLine).split(/\s+/)[0];
    await m2.vote(id, ACCEPT_BALLOT);
    assert.equal((await run.done).code, 0);
    assert.equal((await greet('carol')).body.toString(), 'Bundled carol');
  });

  test('--wait exits 1 when the proposal ends other than Accepted (here withdrawn by its proposer), and the app stays as it was', async () => {
    // The default constitution never rejects (a proposal without a majority stays Open, as with CCF's
    // samples/constitutions/default/resolve.js), so the proposer withdraws it.
    const run = running(['app', 'deploy', greeter('Withdrawn'), '--wait', ...flags()]);
    const id = (await run.firstLine).split(/\s+/)[0];
    await m1.vote(id, REJECT_BALLOT);
    assert.equal((await member(node, 'm0').withdraw(id)).json().proposalState, 'Withdrawn');
    const r = await run.done;
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`${id}  Withdrawn  \\(1 ballot\\)`));
    assert.match(r.stderr, new RegExp(`tessera: proposal ${id} is Withdrawn \\(the proposer withdrew it\\)`));
    assert.equal((await greet('dave')).body.toString(), 'Bundled dave');
  });

  test('--wait gives up at --timeout with exit 1 and says who must vote', async () => {
    const r = await tessera(['app', 'deploy', greeter('Late'), '--wait', '--timeout', '0', ...flags()]);
    assert.equal(r.code, 1);
    const id = r.stdout.split(/\s+/)[0];
    assert.match(r.stderr, new RegExp(`proposal ${id} is still Open after 0 s \\(0 ballots\\); other members must vote: tessera gov vote ${id} --accept`));
    assert.match(await tessera(['app', 'deploy', greeter('x'), '--wait', '--timeout', 'soon', ...flags()]).then((x) => x.stderr), /--timeout takes a number of seconds, not 'soon'/);
  });

  test("CCF's own js-modules test app deploys with CCF's module names", async () => {
    // CCF's tests/js-modules/basic-module-import (microsoft/CCF, Apache-2.0), file for file; its test
    // (tests/js-modules/modules.py) deploys it with set_js_app_from_dir, which names the modules
    // test_module.js, bar.js and sub/foo.js.
    const dir = appDir({
      'app.json': JSON.stringify({ endpoints: { '/test_module': { post: { js_module: 'test_module.js', js_function: 'test_module', forwarding_required: 'sometimes', authn_policies: ['user_cert'], mode: 'readonly' } } } }),
      'src/bar.js': 'import { foo, C } from "./sub/foo.js";\n\nexport function bar() {\n  return foo();\n}\n\nexport function getC() {\n  return new C();\n}\n',
      'src/sub/foo.js': 'export function foo() {\n  return "Hello world!";\n}\n\nexport class C {}\n',
      'src/test_module.js':
        'import { bar, getC } from "./bar.js";\nimport { C } from "./sub/foo.js";\n\nexport function test_module() {\n  if (!(getC() instanceof C)) {\n    throw new Error("inconsistent class prototype");\n  }\n  return { body: bar(), statusCode: 201 };\n}\n',
    });
    const run = running(['app', 'deploy', dir, '--accept', '--wait', ...flags()]);
    const id = (await run.firstLine).split(/\s+/)[0];
    await m1.vote(id, ACCEPT_BALLOT);
    assert.equal((await run.done).code, 0);
    assert.deepEqual((await m1.get('/gov/service/javascript-modules')).json().value.map((m: { moduleName: string }) => m.moduleName).sort(), ['/bar.js', '/sub/foo.js', '/test_module.js']);
    assert.equal((await tessera(['app', 'show', ...flags()])).stdout, 'POST  /test_module  test_module.js:test_module  readonly  user_cert\n');
  });

  test('--help explains the layout and gives examples', async () => {
    const help = await tessera(['app', 'deploy', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: tessera app deploy \[options\] <dir>/);
    assert.match(help.stdout, /--disable-bytecode-cache/);
    assert.match(help.stdout, /Example:\n {2}\$ tessera app deploy \.\/my-app -i/);
    for (const sub of ['show', 'remove']) assert.match((await tessera(['app', sub, '--help'])).stdout, /Examples:/);
    assert.match((await tessera(['app', '--help'])).stdout, /app\.json \(\{"endpoints": …\}\) and src\//);
  });
});

describe('tessera app deploy refuses what is not an app, and sends nothing', () => {
  const cases: [string, () => string, RegExp][] = [
    ['a path that does not exist', () => join(tempDir(), 'nowhere'), /nowhere does not exist: give the app's directory \(app\.json and src\/\)/],
    ['a directory without app.json', () => appDir({ 'src/app.js': 'export function f() {}' }), /is not a CCF app directory: it has no app\.json\. An app directory holds app\.json/],
    ['an npm-app root whose build is in dist/', () => appDir({ 'package.json': '{}', 'dist/app.json': '{"endpoints":{}}', 'dist/src/app.js': '' }), /it has no app\.json \(.*\/dist has one: deploy that\)/],
    ['app.json that is not JSON', () => appDir({ 'app.json': '{"endpoints": ', 'src/app.js': '' }), /app\.json is not valid JSON: /],
    ['app.json without endpoints', () => appDir({ 'app.json': '{"routes": {}}', 'src/app.js': '' }), /app\.json must be a JSON object with "endpoints"/],
    ['no src/ folder', () => appDir({ 'app.json': JSON.stringify({ endpoints: { '/x': { get: endpoint('app.js', 'x') } } }), 'app.js': '' }), /has no src\/ folder/],
    ['an empty src/', () => appDir({ 'app.json': JSON.stringify({ endpoints: {} }), 'src/.keep': '' }), /src holds no modules/],
    // CCF's own check and words (tests/infra/consortium.py read_bundle_from_dir).
    ['an endpoint whose module is absent', () => appDir({ 'app.json': JSON.stringify({ endpoints: { '/x': { post: endpoint('missing.js', 'x') } } }), 'src/app.js': '' }), /post \/x: module 'missing\.js' not found in bundle/],
    ['an unbuilt TypeScript app', () => appDir({ 'app.json': JSON.stringify({ endpoints: { '/x': { get: endpoint('app.js', 'x') } } }), 'src/app.ts': 'export function x() {}' }), /get \/x: module 'app\.js' not found in bundle \(src\/app\.ts is TypeScript: build the app first/],
    ['a file that is not a bundle', () => appDir({ 'notes.txt': 'hello' }) + '/notes.txt', /notes\.txt is not an app directory, nor a bundle\.json/],
  ];
  for (const [what, make, message] of cases) {
    test(what, async () => {
      const before = await proposalCount();
      const r = await tessera(['app', 'deploy', make(), '--accept', '--wait', ...flags()]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /^tessera: /);
      assert.equal(r.stdout, '');
      assert.equal(await proposalCount(), before, 'no proposal was made');
    });
  }

  test('a bundle the node refuses is reported with CCF\'s error code', async () => {
    const dir = appDir({ 'app.json': JSON.stringify({ endpoints: { '/x': { get: endpoint('app.js', 'x', { mode: 'sideways' }) } } }), 'src/app.js': 'export function x() {}' });
    const r = await tessera(['app', 'deploy', dir, ...flags()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ProposalFailedToValidate: .*mode must be readwrite, readonly or historical/);
  });

  test('a deploy without a member identity says how to give one', async () => {
    const r = await tessera(['app', 'deploy', greeter('x'), '--url', `https://127.0.0.1:${node.ports.https}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /which member\? pass --identity DIR/);
  });
});

describe('tessera app remove', () => {
  test('proposes remove_js_app; once accepted the endpoints are gone and show says so', async () => {
    const run = running(['app', 'remove', '--accept', '--wait', ...flags('m1')]);
    const id = (await run.firstLine).split(/\s+/)[0];
    assert.deepEqual((await m1.get(`/gov/members/proposals/${id}/actions`)).json().actions.map((a: { name: string }) => a.name), ['remove_js_app']);
    await m2.vote(id, ACCEPT_BALLOT);
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${id}  Accepted`));
    assert.equal((await greet('erin')).status, 404);
    assert.equal((await tessera(['app', 'show', ...flags()])).stdout, 'no app is deployed\n');
  });
});
