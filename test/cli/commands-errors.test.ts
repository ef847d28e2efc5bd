import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { execFile } from 'node:child_process';
import { type CliResult, TEST_ENV, type TestNode, startNode, tempDir, tessera, tesseraCommand } from '../helpers/cli.js';
import { member } from '../helpers/gov.js';

// Every user mistake with the new commands gets one line on stderr, `tessera: …`, naming what is wrong and
// what to do, with exit 1 and no stack trace; and nothing is sent when the input is bad.

let node: TestNode;
let dir: string;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1'] });
  dir = tempDir('tessera-errors-');
});
after(() => node.cleanup());

const url = () => ['--url', `https://127.0.0.1:${node.ports.https}`];
const as = (name: string) => ['-i', join(identitiesDirOf(node.dir), name), ...url()];
const user = () => [...as('alice'), '--insecure-skip-verification'];
const write = (name: string, text: string) => {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
};

/** One line on stderr (beyond the insecure-connection warning), matching `message`; exit 1; no stack. */
function refused(r: CliResult, message: RegExp, code = 1) {
  assert.equal(r.code, code, `${r.stdout}\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l && !/WARNING: insecureSkipVerification/.test(l) && !/^packed \d+ files/.test(l));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^tessera: /);
  assert.match(lines[0], message);
}

const proposals = async () => (await member(node, 'm0').get('/gov/members/proposals')).json().value.length;

describe('tessera function register', () => {
  test('a missing file, an unknown kind, a bad descriptor, a bad type or payload', async () => {
    const code = write('f.js', 'export function entrypoint() { return "x"; }\n');
    refused(await tessera(['function', 'register', join(dir, 'none.js'), ...user()]), /none\.js does not exist: give the function's code/);
    refused(await tessera(['function', 'register', write('f.txt', 'x'), ...user()]), /f\.txt: the code must be a \.js or \.mjs module, a \.wasm module or a \.py file/);
    refused(await tessera(['function', 'register', code, '--descriptor', join(dir, 'nope.yaml'), ...user()]), /nope\.yaml does not exist: --descriptor takes a JSON or YAML file/);
    refused(await tessera(['function', 'register', code, '--descriptor', write('bad.yaml', 'a: [1\n'), ...user()]), /bad\.yaml is not JSON or YAML: /);
    refused(await tessera(['function', 'register', code, '--descriptor', write('list.json', '[1]'), ...user()]), /list\.json must hold an object/);
    refused(await tessera(['function', 'register', code, '--descriptor', write('code.json', '{"modules": {}}'), ...user()]), /code\.json: unknown field modules \(a descriptor may hold name, type, description, entry, interface, limits; the code comes from FILE\)/);
    refused(await tessera(['function', 'register', code, '--type', 'Triple', ...user()]), /type 'Triple' is not Single or Multi/);
    refused(await tessera(['function', 'register', code, '--payload', 'xml', ...user()]), /payload 'xml' is not one of none, text, json, optional-json/);
    // What only the node can check comes back as its message.
    refused(await tessera(['function', 'register', code, '--name', 'bad name', ...user()]), /name/);
  });

  test('a descriptor in YAML gives the name, type and interface; flags win over it', async () => {
    const code = write('g.js', 'export function entrypoint(args, io) { return io.inputText("a") + io.inputText("b"); }\n');
    const yaml = write('g.yaml', 'name: joiner\ntype: Multi\ndescription: joins two files\ninterface:\n  payload: none\n  inputs:\n    - name: a\n    - name: b\n  outputs: []\n');
    const r = await tessera(['function', 'register', code, '--descriptor', yaml, '--json', ...user()]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.name, 'joiner');
    const shown = JSON.parse((await tessera(['function', 'show', out.function_id, '--json', ...user()])).stdout);
    assert.deepEqual([shown.type, shown.interface.payload, shown.interface.inputs.map((i: { name: string }) => i.name), shown.description], ['Multiparty', 'none', ['a', 'b'], 'joins two files']);
    const renamed = JSON.parse((await tessera(['function', 'register', code, '--descriptor', yaml, '--name', 'joiner2', '--type', 'Single', '--json', ...user()])).stdout);
    assert.equal(renamed.name, 'joiner2');
    assert.notEqual(renamed.function_id, out.function_id);
  });

  test('show: a malformed id and an unknown one', async () => {
    refused(await tessera(['function', 'show', 'xyz', ...user()]), /'xyz' is not a function id \(64 hex digits\): tessera function list shows them/);
    refused(await tessera(['function', 'show', 'ab'.repeat(32), ...user()]), /no registered function abab/);
  });
});

describe('tessera fn deploy and invoke', () => {
  test('a missing directory, a directory without func.yaml, dependencies not installed', async () => {
    refused(await tessera(['fn', 'deploy', join(dir, 'nowhere'), ...user()]), /nowhere is not a directory: give the function's folder \(with func\.yaml; tessera fn init --runtime node .* makes one\)/);
    mkdirSync(join(dir, 'empty'));
    refused(await tessera(['fn', 'deploy', join(dir, 'empty'), ...user()]), /empty has no func\.yaml: a function folder holds Fn's func\.yaml beside its code/);
    const init = await tessera(['fn', 'init', '--runtime', 'node', join(dir, 'hello')]);
    assert.equal(init.code, 0, init.stderr);
    refused(await tessera(['fn', 'deploy', join(dir, 'hello'), ...user()]), /hello has no node_modules for its dependencies \(@fnproject\/fdk\): run {2}npm install --prefix .*hello {2}first/);
  });

  test('where direct deploys are off, the refusal names the command a member runs', async () => {
    const dirFn = join(dir, 'plain');
    mkdirSync(dirFn);
    writeFileSync(join(dirFn, 'func.yaml'), 'schema_version: 20180708\nname: plain\nversion: 0.0.1\nruntime: node\nentrypoint: node func.js\n');
    writeFileSync(join(dirFn, 'func.js'), 'process.stdout.write("x")\n');
    refused(await tessera(['fn', 'deploy', dirFn, '--app', 'demo', ...user()]), /only through governance: a member runs {2}tessera fn deploy DIR --app APP --propose -i <member folder>/);
  });

  test('--propose with two members says who must vote; once accepted, users invoke it by app and name', async () => {
    const dirFn = join(dir, 'shared');
    mkdirSync(dirFn);
    writeFileSync(join(dirFn, 'func.yaml'), 'schema_version: 20180708\nname: shared\nversion: 0.0.1\nruntime: binary\nentrypoint: sh run.sh\nannotations:\n  tessera.io/format: default\n');
    writeFileSync(join(dirFn, 'run.sh'), 'printf "shared:"; cat\n');
    const r = await tessera(['fn', 'deploy', dirFn, '--app', 'team', '--propose', '--vote', ...as('m0')]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.split(/\s+/)[0];
    assert.match(r.stdout, new RegExp(`${id} {2}Open {2}\\(1 ballot\\)`));
    assert.match(r.stdout, new RegExp(`tessera gov vote ${id} --accept -i <their identity folder>\n\\(not voted yet: m1\\)`));
    const voted = await tessera(['gov', 'vote', id, '--accept', ...as('m1')]);
    assert.match(voted.stdout, /Accepted/);
    const invoked = await new Promise<CliResult>((resolve) => {
      const proc = execFile(...tesseraCommand(['fn', 'invoke', 'team', 'shared', ...user()]), { env: TEST_ENV }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
      proc.stdin!.end('hi');
    });
    assert.equal(invoked.code, 0, invoked.stderr);
    assert.equal(invoked.stdout, 'shared:hi\n');
    refused(await tessera(['fn', 'invoke', 'team', 'nobody', ...user()]), /no function 'nobody' in app 'team' that you may call: tessera fn list shows them/);
  });
});

describe('tessera gov withdraw, ack, keygen, propose-member', () => {
  test('withdraw: a malformed id, an unknown one, another member’s proposal', async () => {
    refused(await tessera(['gov', 'withdraw', '1234', ...as('m0')]), /'1234' is not a proposal id \(64 hex digits\): tessera gov list shows them/);
    refused(await tessera(['gov', 'withdraw', 'ab'.repeat(32), ...as('m0')]), /no proposal abab\S+ on this node: tessera gov list shows them/);
    const p = (await member(node, 'm0').propose({ actions: [{ name: 'set_jwt_issuer', args: { issuer: 'https://w.example' } }] })).json();
    refused(await tessera(['gov', 'withdraw', p.proposalId, ...as('m1')]), /was made by member [0-9a-f]{12}…, not by you: only its proposer can withdraw it/);
    const json = await tessera(['gov', 'withdraw', p.proposalId, '--json', ...as('m0')]);
    assert.equal(JSON.parse(json.stdout).proposalState, 'Withdrawn');
  });

  test('keygen refuses to overwrite; propose-member checks the certificate before sending', async () => {
    const out = tempDir('tessera-keys-');
    assert.equal((await tessera(['gov', 'keygen', 'dave', '--out', out, '--ca', node.dir + '/ca.pem'])).code, 0);
    refused(await tessera(['gov', 'keygen', 'dave', '--out', out]), /dave already exists: keygen never overwrites a key/);
    refused(await tessera(['gov', 'keygen', 'bad name', '--out', out]), /invalid member name 'bad name'/);
    refused(await tessera(['gov', 'keygen', 'erin', '--out', join(out, 'missing')]), /--out .*missing does not exist: create it first/);
    const before = await proposals();
    refused(await tessera(['gov', 'propose-member', 'erin', '--cert', join(out, 'erin', 'cert.pem'), ...as('m0')]), /erin\/cert\.pem does not exist: the new member makes it with {2}tessera gov keygen erin/);
    refused(await tessera(['gov', 'propose-member', 'erin', '--cert', join(out, 'dave', 'cert.pem'), ...as('m0')]), /dave\/cert\.pem is the certificate of 'dave' \(its CN\), not of 'erin': the CN is the name the node gives the member/);
    refused(await tessera(['gov', 'propose-member', 'dave', '--cert', write('junk.pem', 'junk'), ...as('m0')]), /junk\.pem is not a PEM certificate/);
    refused(await tessera(['gov', 'propose-member', 'dave', '--cert', join(out, 'dave', 'cert.pem'), '--member-data', '{x', ...as('m0')]), /--member-data is not JSON/);
    assert.equal(await proposals(), before, 'nothing was proposed');
    // dave is not a member yet: ack says what must happen first.
    refused(await tessera(['gov', 'ack', '-i', join(out, 'dave'), ...url()]), /a set_member proposal for it must pass first \(tessera gov propose-member\)/);
    // Two members: m0's yes is not enough; m1's makes it; then dave acks and counts as Active.
    const proposed = await tessera(['gov', 'propose-member', 'dave', '--cert', join(out, 'dave', 'cert.pem'), '--member-data', '{"team":"ops"}', '--vote', ...as('m0')]);
    assert.equal(proposed.code, 0, proposed.stderr);
    assert.match(proposed.stdout, /\(not voted yet: m1\)/);
    await tessera(['gov', 'vote', proposed.stdout.split(/\s+/)[0], '--accept', ...as('m1')]);
    const members = async () => (await member(node, 'm0').get('/gov/service/members')).json().value as Array<{ status: string; memberData: unknown }>;
    assert.deepEqual((await members()).find((m) => m.status === 'Accepted')?.memberData, { team: 'ops' });
    // Accepted is not yet Active: dave cannot propose, and the refusal names the command that fixes it.
    refused(await tessera(['app', 'remove', '-i', join(out, 'dave'), ...url()]), /member dave is Accepted, not Active: it must acknowledge the service state first \(tessera gov ack -i <its folder>\)/);
    const acked = await tessera(['gov', 'ack', '--json', '-i', join(out, 'dave'), ...url()]);
    assert.equal(acked.code, 0, acked.stderr);
    assert.equal(JSON.parse(acked.stdout).status, 'Active');
    assert.equal((await members()).filter((m) => m.status === 'Active').length, 3);
  });
});

describe('tessera user add --member', () => {
  test('is refused: members join through governance, and the message says how', async () => {
    const r = await tessera(['user', 'add', 'm9', '--member', '--data', node.dir]);
    refused(r, /members join only through governance \(set_member\), as in CCF: m9 runs {2}tessera gov keygen m9 .* tessera gov propose-member m9 --cert m9\/cert\.pem .* tessera gov ack -i m9/);
    const list = JSON.parse((await tessera(['user', 'list', '--json', '--data', node.dir])).stdout) as Array<{ name: string }>;
    assert.ok(!list.some((p) => p.name === 'm9'));
  });
});

describe('tessera ledger receipt and tessera status', () => {
  const ca = () => ['--ca', join(node.dir, 'ca.pem')];
  test('receipt: a malformed transaction id, an unknown one, a wrong service certificate', async () => {
    refused(await tessera(['ledger', 'receipt', 'abc', ...ca(), ...url()]), /'abc' is not a transaction id: it looks like VIEW\.SEQNO, e.g\. 2\.15/);
    refused(await tessera(['ledger', 'receipt', '2.999999', ...ca(), ...url()]), /no receipt for 2\.999999: TransactionPendingOrUnknown: .*is Unknown/);
    const other = await startNode({ users: [] });
    try {
      const r = await tessera(['ledger', 'receipt', '2.1', ...ca(), ...url(), '--service-cert', join(other.dir, 'ca.pem'), '--json']);
      assert.equal(r.code, 1);
      const out = JSON.parse(r.stdout);
      assert.equal(out.verified, false);
      assert.match(out.reason, /not endorsed by the service identity/);
      assert.match(r.stderr, /^tessera: receipt for 2\.1 does NOT verify: receipt check failed: the signing node is not endorsed by the service identity\n$/);
    } finally {
      await other.cleanup();
    }
    refused(await tessera(['ledger', 'receipt', '2.1', '--ca', join(dir, 'no-ca.pem'), ...url()]), /no-ca\.pem does not exist: --ca takes the node's ca\.pem/);
  });

  test('receipt --json gives the CCF receipt and the verdict', async () => {
    const r = await tessera(['ledger', 'receipt', '2.1', '--json', ...ca(), ...url()]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.verified, true);
    assert.deepEqual(Object.keys(out.receipt).sort().filter((k) => k !== 'service_endorsements'), ['cert', 'leaf_components', 'node_id', 'proof', 'signature']);
  });

  test('status: --json, no CA, and a node that is not there (exit 3, as for any unreachable node; JSON still on stdout)', async () => {
    const r = await tessera(['status', '--json', ...ca(), ...url()]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.healthy, true);
    assert.deepEqual(s.listeners.map((l: { name: string }) => l.name).sort(), ['fns', 'https', 'kms', 'tdfs_external', 'tdfs_internal', 'tms_external', 'tms_internal']);
    assert.equal(s.attestation.provider, 'software');
    assert.ok(s.attestation.age_s >= 0);
    assert.equal(s.governance.members.active >= 2, true);
    assert.equal(s.versions.gov_api, '2024-07-01');
    refused(await tessera(['status', ...url()], { cwd: dir }), /which CA\? pass --ca FILE/);
    const down = await tessera(['status', '--json', ...ca(), '--url', 'https://127.0.0.1:1']);
    // docs/cli.md: exit 3 is "no node answers"
    assert.deepEqual(JSON.parse(down.stdout), { url: 'https://127.0.0.1:1', healthy: false, error: 'cannot reach the node at 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1' });
    refused(down, /^tessera: cannot reach the node at 127\.0\.0\.1:1/, 3);
  });
});
