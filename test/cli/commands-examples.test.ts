import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { REPO, type TestNode, auditedEnclaveInfo, startNode, tempDir } from '../helpers/cli.js';
import { helpExample, runExample } from '../helpers/help-examples.js';

// The example under "Example:" in each new command's --help, run as printed, in order, against one real
// node: a newcomer's folder where `tessera init` made ./tessera-data and ./tessera-data-identities, with the
// node's address and the auditors' signed enclave_info in the environment (TESSERA_URL, TESSERA_ENCLAVE_INFO,
// TESSERA_AUDITORS), as the README sets them. The node has one member (m0), so a member's yes decides.

let node: TestNode;
let cwd: string;
let env: Record<string, string>;
const fill: Record<string, string> = {};

before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0'], config: (c) => (c.fn = { allow_direct_deploy: true, start_timeout_ms: 5000 }) });
  cwd = tempDir('tessera-examples-');
  symlinkSync(node.dir, join(cwd, 'tessera-data'));
  symlinkSync(identitiesDirOf(node.dir), join(cwd, 'tessera-data-identities'));
  const audit = await auditedEnclaveInfo(node.dir, ['godzilla']);
  env = { TESSERA_URL: `https://127.0.0.1:${node.ports.https}`, TESSERA_ENCLAVE_INFO: audit.enclaveInfo, TESSERA_AUDITORS: `${audit.auditors[0].publicKey}:${audit.auditors[0].signatureFile}` };
  // What the examples name: a CCF app directory and a JS task function.
  mkdirSync(join(cwd, 'my-app', 'src'), { recursive: true });
  writeFileSync(join(cwd, 'my-app', 'app.json'), JSON.stringify({ endpoints: { '/ping': { get: { js_module: 'app.js', js_function: 'ping', forwarding_required: 'never', authn_policies: ['user_cert'], mode: 'readonly' } } } }));
  writeFileSync(join(cwd, 'my-app', 'src', 'app.js'), 'export function ping() { return { body: "pong" }; }\n');
  writeFileSync(join(cwd, 'count.js'), 'export function entrypoint(args, io) { const n = io.inputText("data").split("\\n").length; io.output("report", String(n)); return "lines: " + n; }\n');
});
after(() => node.cleanup());

/** Runs the example of `tessera ARGS --help` and returns its result, which must succeed. */
async function example(args: string[]) {
  const line = await helpExample(args);
  assert.match(line, new RegExp(`^(echo .* \\| )?tessera ${args.join(' ')}\\b`), `the example of ${args.join(' ')} runs that command`);
  const r = await runExample(line, { cwd, env, fill });
  assert.equal(r.code, 0, `${r.line}\n${r.stdout}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  return r;
}

test('tessera status', async () => {
  const r = await example(['status']);
  assert.match(r.stdout, /healthy/);
  assert.match(r.stdout, /listener\s+https\s+127\.0\.0\.1:\d+/);
  assert.match(r.stdout, /listener\s+tms_external\s+127\.0\.0\.1:\d+\s+MesaTEE wire/);
  assert.match(r.stdout, /attestation\s+software, evidence made .* ago\)/);
  assert.match(r.stdout, /governance\s+service Open; 1 active member; 0 open proposals/);
});

test('tessera app deploy: one command from directory to running app', async () => {
  const r = await example(['app', 'deploy']);
  assert.match(r.stdout, /Accepted {2}\(1 ballot\)/);
  assert.match(r.stdout, /app deployed: 1 endpoint answering under https:\/\/127\.0\.0\.1:\d+\/app/);
});

test('tessera function register, list, show', async () => {
  const reg = await example(['function', 'register']);
  const id = /function id\s+([0-9a-f]{64})/.exec(reg.stdout)?.[1];
  assert.ok(id, reg.stdout);
  assert.match(reg.stdout, /function_hash\s+[0-9a-f]{64}/);
  fill['function-id'] = id;
  const list = await example(['function', 'list']);
  assert.match(list.stdout, /^NAME OR ID\s+KIND\s+TYPE\s+OWNER/);
  assert.match(list.stdout, new RegExp(`${id}\\s+js\\s+Single\\s+alice`));
  const show = await example(['function', 'show']);
  assert.match(show.stdout, /inputs\s+data\n/);
  assert.match(show.stdout, /outputs\s+report\n/);
});

test('tessera fn init, deploy, invoke, list', async () => {
  await example(['fn', 'init']);
  // What `npm install` in ./hello gives: the FDK the boilerplate requires (no network in tests).
  const fdk = join(cwd, 'hello', 'node_modules', '@fnproject', 'fdk');
  mkdirSync(fdk, { recursive: true });
  for (const f of ['fn-fdk.js', 'package.json']) copyFileSync(join(REPO, 'node_modules', '@fnproject', 'fdk', f), join(fdk, f));
  const deployed = await example(['fn', 'deploy']);
  assert.match(deployed.stdout, /^[0-9a-f]{64}\n$/);
  assert.match(deployed.stderr, /deployed demo\/hello version 1: invoke it with {2}tessera fn invoke demo hello/);
  const invoked = await example(['fn', 'invoke']);
  assert.match(invoked.stdout, /Hello Bob/);
  const list = await example(['fn', 'list']);
  assert.match(list.stdout, /demo\s+hello\s+v1\s+alice/);
});

test('tessera gov keygen, propose-member, ack: a member joins through governance', async () => {
  await example(['gov', 'keygen']);
  const proposed = await example(['gov', 'propose-member']);
  assert.match(proposed.stdout, /Accepted {2}\(1 ballot\)/);
  assert.match(proposed.stdout, /carol is an Accepted member/);
  const acked = await example(['gov', 'ack']);
  assert.match(acked.stdout, /^member [0-9a-f]{64} {2}Active {2}\(acknowledged state digest [0-9a-f]{16}…, tx \d+\.\d+\)\n$/);
  const status = await runExample('tessera status --ca ./tessera-data/ca.pem', { cwd, env });
  assert.match(status.stdout, /2 active members/);
});

test('tessera gov withdraw', async () => {
  // Two active members now (m0 and carol): m0's proposal stays Open until carol votes, and m0 takes it back.
  const open = await runExample('tessera app remove -i ./tessera-data-identities/m0', { cwd, env });
  assert.equal(open.code, 0, open.stderr);
  assert.match(open.stdout, /the proposal is Open: the constitution needs more votes/);
  assert.match(open.stdout, /\(not voted yet: (carol, m0|m0, carol)\)/);
  fill['proposal-id'] = open.stdout.split(/\s+/)[0];
  const r = await example(['gov', 'withdraw']);
  assert.match(r.stdout, new RegExp(`^${fill['proposal-id']} {2}Withdrawn`));
});

test('tessera ledger receipt', async () => {
  const r = await example(['ledger', 'receipt']);
  assert.match(r.stdout, /^transaction {2}2\.1\n/);
  // the CA is the one the CLI found for the node (here through ./tessera-data/node.json)
  assert.match(r.stdout, /receipt: ok \(verified against \S*ca\.pem\)\n$/);
});
