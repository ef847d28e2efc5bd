// Process functions as content-addressed packages, through a real node, the CLI and HTTPS: what an
// upload may hold, how big it may be, who owns a function and its app, what a new version does to the
// old id, what governance can name, and how a node that runs functions unconfined says so.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { digestOf, packDirectory } from '../../src/packaging/package.js';
import { type TestNode, startNode, tempDir, tessera } from '../helpers/cli.js';
import { PYTHON_FN } from '../helpers/fn-fixtures.js';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { member } from '../helpers/gov.js';
import { type HandEntry, handTar } from '../helpers/hand-tar.js';
import { https } from '../helpers/https-client.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

const MAX_PACKAGE_BYTES = 32 * 1024;

let node: TestNode;
before(async () => {
  node = await startNode({
    users: ['alice', 'bob'],
    members: ['m0', 'm1', 'm2'],
    config: (c) => (c.fn = { allow_direct_deploy: true, start_timeout_ms: 3000, max_package_bytes: MAX_PACKAGE_BYTES }),
  });
});
after(() => node.cleanup());

const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
const as = (user: string) => ({ ...node.identity(user), ca: node.ca });
const cli = (args: string[], user = 'alice') => tessera([...args, '-i', `${identitiesDirOf(node.dir)}/${user}`, '--url', url(''), '--insecure-skip-verification']);

/** A stdlib-only Python function whose answer says whose code it is: `who` is part of the package. */
function pyDir(name: string, who: string, extra: Record<string, string | Buffer> = {}): string {
  const dir = join(tempDir('tessera-pkg-'), name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'func.yaml'), `schema_version: 20180708\nname: ${name}\nversion: 0.0.1\nruntime: python\nentrypoint: python3 func.py\n`);
  writeFileSync(join(dir, 'func.py'), `WHO = ${JSON.stringify(who)}\n${PYTHON_FN.replace('{"python": body.decode(),', '{"who": WHO, "python": body.decode(),')}`);
  for (const [file, content] of Object.entries(extra)) writeFileSync(join(dir, file), content);
  return dir;
}

async function deploy(dir: string, app: string, user = 'alice'): Promise<{ id: string; stderr: string }> {
  const r = await cli(['fn', 'deploy', dir, '--app', app], user);
  assert.equal(r.code, 0, r.stderr);
  return { id: r.stdout.trim(), stderr: r.stderr };
}

const invoke = (id: string, user = 'alice') => https(url(`/invoke/${id}`), as(user), { method: 'POST', body: Buffer.from('ping'), headers: { 'content-type': 'text/plain' } });
/** Whose code a function runs, asked by its owner (a user's function answers only its owner). */
const whoRuns = async (id: string, user = 'alice') => {
  const r = await invoke(id, user);
  assert.equal(r.status, 200, r.body.toString());
  return r.json().who as string;
};
const fnList = async () => (await https(url('/v1/fns'), as('alice'))).json();
const upload = (bytes: Buffer, user = 'alice') => https(url('/v1/fn/packages'), as(user), { method: 'PUT', body: bytes, headers: { 'content-type': 'application/x-tar' } });
const FN_NOT_FOUND = '{"message":"Fn not found"}\n';

describe('uploads a node refuses', () => {
  const YAML: HandEntry = { name: 'func.yaml', body: 'schema_version: 20180708\nname: evil\nruntime: binary\nentrypoint: sh run.sh\n' };
  const RUN: HandEntry = { name: 'run.sh', body: 'cat /etc/shadow\n' };

  test('a hand-built archive with a link out, an absolute path, a .. or a device: 400 with the reason, nothing registered', async () => {
    const listBefore = await fnList();
    const cases: Array<[string, HandEntry[], RegExp]> = [
      ['a symbolic link outside (absolute)', [YAML, { name: 'passwd', type: 'symlink', linkname: '/etc/passwd' }, RUN], /symbolic link 'passwd' points to '\/etc\/passwd', outside the package \(absolute\)/],
      ['a symbolic link outside (..)', [YAML, { name: 'lib', type: 'directory' }, { name: 'lib/up', type: 'symlink', linkname: '../../../etc' }, RUN], /symbolic link 'lib\/up' points to '\.\.\/\.\.\/\.\.\/etc', outside the package/],
      ['an absolute path', [{ name: '/tmp/tessera-planted', body: 'x' }, YAML, RUN], /package entry '\/tmp\/tessera-planted' is an absolute path/],
      ["a '..' component", [{ name: '../../planted', body: 'x' }, YAML, RUN], /package entry '\.\.\/\.\.\/planted' has an empty, '\.' or '\.\.' component/],
      ['a character device', [{ name: 'dev', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 }, YAML, RUN], /package entry 'dev' is a character-device: only files, directories and symbolic links are allowed/],
      ['a hard link', [YAML, { name: 'shadow', type: 'link', linkname: '/etc/shadow' }, RUN], /package entry 'shadow' is a link/],
    ];
    for (const [what, entries, message] of cases) {
      const bytes = await handTar(entries);
      const r = await upload(bytes);
      assert.equal(r.status, 400, `${what}: ${r.body}`);
      assert.equal(r.json().error.code, 'InvalidInput', what);
      assert.match(r.json().error.message, message, what);
      // Nothing was kept under the archive's digest: deploying it names no package.
      const d = await https(url('/v1/fns'), as('alice'), { method: 'POST', json: { package: digestOf(bytes), app: 'evil' } });
      assert.equal(d.status, 404, `${what}: ${d.body}`);
      assert.match(d.json().error.message, /no uploaded package has digest/);
    }
    assert.deepEqual(await fnList(), listBefore);
  });

  test('a corrupt or truncated archive: 400, and the node lives on', async () => {
    const good = await handTar([YAML, RUN]);
    for (const body of [Buffer.from('this is not a tar archive '.repeat(40)), good.subarray(0, 700)]) {
      const r = await upload(body);
      assert.equal(r.status, 400, r.body.toString());
      assert.match(r.json().error.message, /not a readable tar archive|not in canonical form/);
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(node.proc.exitCode, null, `the node exited:\n${node.logs().slice(-2000)}`);
    assert.equal((await https(url('/v1/health'), as('alice'))).status, 200);
  });

  test(`a package over fn.max_package_bytes (${MAX_PACKAGE_BYTES}): 413, by HTTPS and by the CLI`, async () => {
    const big = await handTar([{ name: 'blob', body: Buffer.alloc(MAX_PACKAGE_BYTES + 1, 7) }, YAML, RUN]);
    const r = await upload(big);
    assert.equal(r.status, 413, r.body.toString());
    assert.equal(r.json().error.code, 'RequestTooLarge');
    assert.equal(r.json().error.message, `the package is over this node's limit of ${MAX_PACKAGE_BYTES} bytes (fn.max_package_bytes)`);
    // A package that fits the limit is taken: the limit is the node's setting, not some smaller one.
    const fits = await upload(await handTar([{ name: 'blob', body: Buffer.alloc(MAX_PACKAGE_BYTES - 4096, 7) }, YAML, RUN]));
    assert.equal(fits.status, 201, fits.body.toString());
    const listBefore = await fnList();
    const dir = pyDir('huge', 'nobody', { 'blob.bin': Buffer.alloc(MAX_PACKAGE_BYTES, 1) });
    const c = await cli(['fn', 'deploy', dir, '--app', 'huge']);
    assert.equal(c.code, 1, c.stdout);
    assert.match(c.stderr, new RegExp(`the package is over this node's limit of ${MAX_PACKAGE_BYTES} bytes \\(fn\\.max_package_bytes\\)`));
    assert.deepEqual(await fnList(), listBefore);
  });
});

describe('owners, apps and versions', () => {
  let alice1: string;

  test("bob cannot deploy into alice's app (403), and her function still runs her code", async () => {
    alice1 = (await deploy(pyDir('greet', 'alice v1'), 'alices')).id;
    assert.equal(await whoRuns(alice1), 'alice v1');
    const up = await upload((await packDirectory(pyDir('greet', 'bob'))).bytes, 'bob');
    assert.equal(up.status, 201, up.body.toString());
    const r = await https(url('/v1/fns'), as('bob'), { method: 'POST', json: { package: up.json().digest, app: 'alices' } });
    assert.equal(r.status, 403, r.body.toString());
    assert.match(r.json().error.message, /app 'alices' belongs to another user; deploy into an app of your own/);
    // And the same through the CLI.
    const c = await cli(['fn', 'deploy', pyDir('greet', 'bob'), '--app', 'alices'], 'bob');
    assert.equal(c.code, 1);
    assert.match(c.stderr, /belongs to another user/);
    assert.equal(await whoRuns(alice1), 'alice v1');
    const inApp = (await fnList()).fns.filter((f: any) => f.app === 'alices');
    assert.deepEqual(
      inApp.map((f: any) => [f.id, f.owner, f.name, f.version]),
      [[alice1, 'alice', 'greet', 1]],
    );
  });

  test('bob deploying the same name in his own app makes his own function; alice’s is unchanged', async () => {
    const bob = (await deploy(pyDir('greet', 'bob'), 'bobs', 'bob')).id;
    assert.notEqual(bob, alice1);
    assert.equal(await whoRuns(bob, 'bob'), 'bob');
    assert.equal(await whoRuns(alice1), 'alice v1');
    // Each lists only the functions they may call: their own (and the consortium's).
    const greets = async (user: string) => (await https(url('/v1/fns'), as(user))).json().fns.filter((f: any) => f.name === 'greet').map((f: any) => [f.app, f.owner, f.version]);
    assert.deepEqual(await greets('alice'), [['alices', 'alice', 1]]);
    assert.deepEqual(await greets('bob'), [['bobs', 'bob', 1]]);
  });

  test('a redeploy of changed code is a new id and version 2; the old id answers 404 Fn not found', async () => {
    const { id: alice2, stderr } = await deploy(pyDir('greet', 'alice v2'), 'alices');
    assert.notEqual(alice2, alice1);
    assert.match(stderr, /deployed alices\/greet version 2/);
    assert.equal(await whoRuns(alice2), 'alice v2');
    const old = await invoke(alice1);
    assert.equal(old.status, 404);
    assert.equal(old.body.toString(), FN_NOT_FOUND);
    assert.match(String(old.headers['content-type']), /^application\/json/);
    const greet = (await fnList()).fns.filter((f: any) => f.app === 'alices');
    assert.deepEqual(greet.map((f: any) => [f.id, f.version]), [[alice2, 2]]);
    // The same code again is the same function: same id, no new version.
    const again = await deploy(pyDir('greet', 'alice v2'), 'alices');
    assert.equal(again.id, alice2);
    assert.match(again.stderr, /version 2/);
  });

  test("bob cannot remove alice's function (404); alice can, and then it answers 404", async () => {
    const id = (await fnList()).fns.find((f: any) => f.app === 'alices' && f.name === 'greet').id;
    const byBob = await https(url(`/v1/fns/${id}`), as('bob'), { method: 'DELETE' });
    assert.equal(byBob.status, 404, byBob.body.toString());
    assert.match(byBob.json().error.message, /you have no function/);
    const cliBob = await cli(['fn', 'remove', id], 'bob');
    assert.equal(cliBob.code, 1);
    assert.equal(await whoRuns(id), 'alice v2');
    const byAlice = await cli(['fn', 'remove', id], 'alice');
    assert.equal(byAlice.code, 0, byAlice.stderr);
    assert.match(byAlice.stdout, new RegExp(`${id} removed`));
    const gone = await invoke(id);
    assert.deepEqual([gone.status, gone.body.toString()], [404, FN_NOT_FOUND]);
    assert.equal((await fnList()).fns.filter((f: any) => f.app === 'alices').length, 0);
  });
});

describe('who may invoke', () => {
  // A user's function (a direct deploy) answers only its owner; the consortium's (deployed by governance)
  // answers every user. Before, any user could invoke any function by its id or its app's triggers.
  test("bob cannot invoke alice's function by its id, her app's trigger or a task; alice still gets her answer; the consortium's answers both", async () => {
    const triggered = `schema_version: 20180708\nname: mine\nversion: 0.0.1\nruntime: python\nentrypoint: python3 func.py\ntriggers:\n- name: mine\n  type: http\n  source: /mine\n`;
    const { id } = await deploy(pyDir('mine', 'alice only', { 'func.yaml': triggered }), 'alice-private');
    const byBob = await invoke(id, 'bob');
    assert.equal(byBob.status, 403, byBob.body.toString());
    assert.equal(byBob.json().message, `function ${id} belongs to another user: only its owner may invoke it (functions deployed by governance are for every user)`);
    const trigger = (user: string) => https(url('/t/alice-private/mine'), as(user), { method: 'POST', body: Buffer.from('ping'), headers: { 'content-type': 'text/plain' } });
    const triggerByBob = await trigger('bob');
    assert.equal(triggerByBob.status, 403, triggerByBob.body.toString());
    assert.equal(triggerByBob.json().message, "app 'alice-private' belongs to another user: only its owner may call its triggers");
    const task = await https(url('/v1/tasks'), as('bob'), { method: 'POST', json: { function_name: `fn:${id}` } });
    // Nor can a task of his name it: refused when he creates it.
    assert.equal(task.status, 403, task.body.toString());
    assert.equal(task.json().error.message, `process function ${id} belongs to another user: only its owner may run it (functions deployed by governance are for every user)`);
    // Bob does not see it listed either; alice does.
    assert.equal((await https(url('/v1/fns'), as('bob'))).json().fns.find((f: any) => f.id === id), undefined);
    assert.equal((await fnList()).fns.find((f: any) => f.id === id)?.owner, 'alice');
    // The bystander: alice's calls still reach her code, by id and by trigger.
    assert.equal(await whoRuns(id), 'alice only');
    const mine = await trigger('alice');
    assert.deepEqual([mine.status, mine.json().who], [200, 'alice only']);

    const propose = await cli(['fn', 'deploy', pyDir('shared', 'consortium'), '--app', 'shared', '--propose'], 'm0');
    assert.equal(propose.code, 0, propose.stderr);
    const proposalId = propose.stdout.split(/\s+/)[0];
    await member(node, 'm0').vote(proposalId, ACCEPT_BALLOT);
    assert.equal((await member(node, 'm1').vote(proposalId, ACCEPT_BALLOT)).json().proposalState, 'Accepted');
    const shared = (await fnList()).fns.find((f: any) => f.app === 'shared');
    assert.equal(shared.owner, '@consortium');
    assert.deepEqual([await whoRuns(shared.id, 'alice'), await whoRuns(shared.id, 'bob')], ['consortium', 'consortium']);
    assert.equal((await https(url('/v1/fns'), as('bob'))).json().fns.some((f: any) => f.id === shared.id), true, "every user sees the consortium's functions");
    const anonymous = await https(url(`/invoke/${shared.id}`), { ca: node.ca }, { method: 'POST', body: Buffer.from('ping') });
    assert.equal(anonymous.status, 401);
  });
});

describe('digests', () => {
  test('--pack-only prints the digest the deploy uses, and the same one every time', async () => {
    const dir = pyDir('digested', 'digest');
    const packed = await cli(['fn', 'deploy', dir, '--pack-only']);
    assert.equal(packed.code, 0, packed.stderr);
    const digest = packed.stdout.trim();
    assert.match(digest, /^[0-9a-f]{64}$/);
    const { id, stderr } = await deploy(dir, 'digests');
    assert.match(stderr, new RegExp(`sha256 ${digest}`));
    const f = (await fnList()).fns.find((x: any) => x.id === id);
    assert.equal(f.package, digest);
    // A copy of the directory made now, elsewhere, packs to the same digest.
    const copy = pyDir('digested', 'digest');
    assert.equal((await cli(['fn', 'deploy', copy, '--pack-only'])).stdout.trim(), digest);
  });

  test('a governance proposal naming a digest no one uploaded is refused', async () => {
    const dir = pyDir('unuploaded', 'never uploaded');
    const packed = await cli(['fn', 'deploy', dir, '--pack-only']);
    const digest = packed.stdout.trim();
    assert.match(digest, /^[0-9a-f]{64}$/);
    const m0 = member(node, 'm0');
    const r = await m0.propose({ actions: [{ name: 'set_node_function', args: { name: 'unuploaded', kind: 'process', package: digest, app: 'gov' } }] });
    assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.body}`);
    assert.match(r.json().error.message, new RegExp(`no uploaded package has digest ${digest}`));
    // Not a digest at all is refused too, saying what a digest is.
    const bad = await m0.propose({ actions: [{ name: 'set_node_function', args: { name: 'x', kind: 'process', package: 'latest', app: 'gov' } }] });
    assert.match(bad.json().error.message, /'latest' is not a package digest/);
    assert.equal((await fnList()).fns.filter((f: any) => f.app === 'gov').length, 0);
  });
});

describe('uploads that no function uses', () => {
  test('each uploader holds at most fn.max_unused_packages (429 beyond); a deploy frees one; expired ones are removed', async () => {
    const small = await startNode({ users: ['alice', 'bob'], config: (c) => (c.fn = { allow_direct_deploy: true, max_unused_packages: 2, unused_package_ttl_s: 3 }) });
    try {
      const put = async (who: string) => {
        const { bytes } = await packDirectory(pyDir(`unused${Math.random().toString(36).slice(2, 8)}`, who));
        return https(`https://127.0.0.1:${small.ports.https}/v1/fn/packages`, { ...small.identity('bob'), ca: small.ca }, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/x-tar' } });
      };
      const first = await put('one');
      const second = await put('two');
      assert.deepEqual([first.status, second.status], [201, 201]);
      const third = await put('three');
      assert.equal(third.status, 429, third.body.toString());
      assert.match(third.json().error.message, /you hold 2 uploaded packages that no function uses \(fn\.max_unused_packages\)/);
      assert.ok(Number(third.headers['retry-after']) >= 1);
      const deployed = await https(`https://127.0.0.1:${small.ports.https}/v1/fns`, { ...small.identity('bob'), ca: small.ca }, { method: 'POST', json: { package: first.json().digest, app: 'bobs' } });
      assert.equal(deployed.status, 201, deployed.body.toString());
      assert.equal((await put('four')).status, 201, 'a deploy frees a place');
      // After fn.unused_package_ttl_s (3 s) the sweep removes what no function uses, sealed file and all.
      const sealed = join(small.dir, 'fn-packages', `${second.json().digest}.sealed`);
      assert.ok(existsSync(sealed));
      const deadline = Date.now() + 15_000;
      while (existsSync(sealed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      assert.ok(!existsSync(sealed), 'the expired package was removed');
      assert.ok(existsSync(join(small.dir, 'fn-packages', `${first.json().digest}.sealed`)), 'a deployed package stays');
      const late = await https(`https://127.0.0.1:${small.ports.https}/v1/fns`, { ...small.identity('bob'), ca: small.ca }, { method: 'POST', json: { package: second.json().digest, app: 'bobs' } });
      assert.equal(late.status, 404);
      assert.match(late.json().error.message, /no uploaded package has digest/);
    } finally {
      await small.cleanup();
    }
  });
});

describe('confinement', () => {
  test('fn list warns, and the node log warns on start, when fn.confinement = "none"; not otherwise', async () => {
    const confined = await cli(['fn', 'list']);
    assert.equal(confined.code, 0, confined.stderr);
    assert.doesNotMatch(confined.stderr, /WARNING: process functions/);
    assert.doesNotMatch(node.logs(), /UNCONFINED/);
    const loose = await startNode({ users: ['alice'], config: (c) => (c.fn = { confinement: 'none', allow_direct_deploy: true }) });
    try {
      assert.match(loose.logs(), /process functions run UNCONFINED \(fn\.confinement = \\?"none\\?"\)/);
      const r = await tessera(['fn', 'list', '-i', `${identitiesDirOf(loose.dir)}/alice`, '--url', `https://127.0.0.1:${loose.ports.https}`, '--insecure-skip-verification']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^WARNING: process functions run unconfined on this node \(fn\.confinement = "none"\)$/m);
      const body = (await https(`https://127.0.0.1:${loose.ports.https}/v1/fns`, { ...loose.identity('alice'), ca: loose.ca })).json();
      assert.equal(body.confinement.mode, 'none');
    } finally {
      await loose.cleanup();
    }
  });
});
