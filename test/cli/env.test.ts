import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { type TestNode, startNode, tempDir } from '../helpers/cli.js';
import { CLEAN, configDir, run, STACK } from './run.js';

// Every TESSERA_* variable the docs name is honoured by the commands that talk to a node (gov included)
// and by the offline ones that take --data.

let node: TestNode;
let otherCa: string;
let env: Record<string, string | undefined>;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0'] });
  const other = join(tempDir(), 'other');
  const init = await run(['init', '--data', other, '--users', 'x']);
  assert.equal(init.code, 0, init.stderr);
  otherCa = join(other, 'ca.pem');
  env = { ...CLEAN, TESSERA_CONFIG_DIR: configDir() };
});
after(() => node.cleanup());

const url = () => `https://127.0.0.1:${node.ports.https}`;
const id = (name: string) => join(identitiesDirOf(node.dir), name);

test('TESSERA_URL, TESSERA_IDENTITY and TESSERA_INSECURE=1 are enough for a client command', async () => {
  const r = await run(['file', 'list'], { ...env, TESSERA_URL: url(), TESSERA_IDENTITY: id('alice'), TESSERA_INSECURE: '1' });
  assert.equal(r.code, 0, r.stderr);
  const bad = await run(['file', 'list'], { ...env, TESSERA_URL: url(), TESSERA_IDENTITY: id('alice'), TESSERA_INSECURE: 'maybe' });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /TESSERA_INSECURE is 1 or 0, not 'maybe'/);
});

test('gov honours TESSERA_URL, TESSERA_IDENTITY and TESSERA_CA (a wrong CA fails the TLS check: exit 4)', async () => {
  const ok = await run(['gov', 'list'], { ...env, TESSERA_URL: url(), TESSERA_IDENTITY: id('m0') });
  assert.equal(ok.code, 0, ok.stderr);
  const wrongCa = await run(['gov', 'list'], { ...env, TESSERA_URL: url(), TESSERA_IDENTITY: id('m0'), TESSERA_CA: otherCa });
  assert.equal(wrongCa.code, 4, wrongCa.stderr);
  assert.match(wrongCa.stderr, /^tessera: the node at https:\/\/127\.0\.0\.1:\d+ did not pass the TLS check \(\w+: [^)]+\); pass --ca with that node's ca.pem\n$/);
  assert.doesNotMatch(wrongCa.stderr, STACK);
});

test('a client command with a wrong TESSERA_CA: exit 4, one line', async () => {
  const r = await run(['file', 'list'], { ...env, TESSERA_URL: url(), TESSERA_IDENTITY: id('alice'), TESSERA_INSECURE: '1', TESSERA_CA: otherCa });
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /tessera: the node's certificate is not issued by the CA you trust/);
  assert.doesNotMatch(r.stderr, STACK);
});

test('TESSERA_ENCLAVE_INFO and TESSERA_AUDITORS are read (a missing auditor key is named)', async () => {
  const r = await run(['file', 'list'], { ...env, TESSERA_URL: url(), TESSERA_IDENTITY: id('alice'), TESSERA_ENCLAVE_INFO: '/nonexistent/enclave_info.toml', TESSERA_AUDITORS: '/nonexistent/a.pub.pem:/nonexistent/a.sig' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^tessera: \/nonexistent\/\S+: no such file or folder\n$/);
});

test('TESSERA_DATA is the default data directory of the offline commands', async () => {
  const list = await run(['user', 'list', '--json'], { ...env, TESSERA_DATA: node.dir });
  assert.equal(list.code, 0, list.stderr);
  assert.ok(JSON.parse(list.stdout).some((p: { name: string }) => p.name === 'alice'));
  const verify = await run(['ledger', 'verify', '--json'], { ...env, TESSERA_DATA: node.dir });
  assert.equal(verify.code, 0, verify.stderr);
  assert.equal(JSON.parse(verify.stdout).ok, true);
});
