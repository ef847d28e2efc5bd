import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TestNode, auditedEnclaveInfo, startNode, tempDir, tessera } from './helpers/cli.js';
import { letterRecords } from './helpers/files.js';
import { identitiesDirOf } from '../src/node/datadir.js';

let node: TestNode;
let trust: string[];
before(async () => {
  node = await startNode({ users: ['alice', 'bob'] });
  const audit = await auditedEnclaveInfo(node.dir, ['godzilla']);
  trust = ['--url', `https://127.0.0.1:${node.ports.https}`, '--enclave-info', audit.enclaveInfo, '--auditor', `${audit.auditors[0].publicKey}:${audit.auditors[0].signatureFile}`];
});
after(() => node.cleanup());

const as = (user: string) => ['--identity', join(identitiesDirOf(node.dir), user), ...trust];
async function ok(args: string[]) {
  const r = await tessera(args);
  assert.equal(r.code, 0, `tessera ${args.join(' ')}\n${r.stderr}`);
  return r.stdout.trim();
}

test('the psi flow from the command line: upload, create, approve, invoke, results, download', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'alice.bin'), letterRecords('abde'));
  writeFileSync(join(dir, 'bob.bin'), letterRecords('bcd'));
  const aliceFile = await ok(['file', 'upload', join(dir, 'alice.bin'), ...as('alice')]);
  const bobFile = await ok(['file', 'upload', join(dir, 'bob.bin'), ...as('bob')]);
  assert.match(aliceFile, /^[0-9a-f-]{36}$/);
  assert.ok((await ok(['file', 'list', ...as('alice')])).split('\n').includes(aliceFile));

  const taskId = await ok(['task', 'create', 'psi', '--collaborator', 'bob', '--file', aliceFile, ...as('alice')]);
  assert.match(await ok(['task', 'get', taskId, ...as('bob')]), /status\s+Created[\s\S]*with\s+bob \(not yet approved\)/);
  assert.equal(await ok(['task', 'approve', taskId, '--file', bobFile, ...as('bob')]), 'approved; the task is Ready');
  assert.equal(await ok(['task', 'invoke', taskId, ...as('bob')]), 'Finished');
  const info = JSON.parse(await ok(['task', 'get', taskId, '--json', ...as('alice')]));
  assert.equal(info.status, 'Finished');
  assert.ok((await ok(['task', 'list', ...as('alice')])).split('\n').includes(taskId));

  const [result] = (await ok(['task', 'results', taskId, ...as('alice')])).split('\n');
  const out = join(dir, 'result.bin');
  assert.equal(await ok(['file', 'get', result, '-o', out, ...as('alice')]), out);
  assert.deepEqual([...readFileSync(out)], [0, 1, 1, 0]);
  assert.match(await ok(['file', 'rm', result, ...as('alice')]), new RegExp(`deleted ${result} \\(${taskId}, 4 bytes\\)`));
});

test('an echo task, and no progress bar when stderr is not a terminal', async () => {
  const taskId = await ok(['task', 'create', 'echo', ...as('alice')]);
  assert.equal(await ok(['task', 'invoke', taskId, '--payload', 'echo_payload', ...as('alice')]), 'echo_payload');
  const file = join(tempDir(), 'f.txt');
  writeFileSync(file, 'x'.repeat(100_000));
  const r = await tessera(['file', 'upload', file, ...as('alice')]);
  assert.equal(r.code, 0);
  assert.ok(!/upload \[/.test(r.stderr), 'a progress bar went to a pipe');
  assert.match(r.stderr, /software attestation/, 'the software-attestation warning is shown');
});

test('the client refuses to run unverified unless told to, and says how', async () => {
  const bare = ['--identity', join(identitiesDirOf(node.dir), 'alice'), '--url', `https://127.0.0.1:${node.ports.https}`];
  const r = await tessera(['task', 'list', ...bare]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /verification needs the auditors’ signed enclave_info.toml and at least one auditor: pass --enclave-info FILE and --auditor KEY:SIG .*to connect without any check, pass --insecure-skip-verification \(or TESSERA_INSECURE=1\)/);
  const insecure = await tessera(['task', 'list', ...bare, '--insecure-skip-verification']);
  assert.equal(insecure.code, 0);
  assert.match(insecure.stderr, /WARNING: insecureSkipVerification is set/);
  const nobody = await tessera(['task', 'list', '--url', 'https://127.0.0.1:1', '--insecure-skip-verification']);
  assert.match(nobody.stderr, /who are you\? pass --identity DIR/);
  const api = await tessera(['task', 'get', 'no-such-task', ...as('alice')]);
  assert.equal(api.code, 1);
  assert.match(api.stderr, /tessera: no task no-such-task/);
});

test('every client command has help with an example', async () => {
  for (const args of [['file', 'upload'], ['file', 'get'], ['file', 'list'], ['file', 'rm'], ['task', 'create'], ['task', 'approve'], ['task', 'invoke'], ['task', 'get'], ['task', 'results'], ['task', 'list'], ['measure'], ['audit', 'keygen'], ['audit', 'sign'], ['audit', 'verify']]) {
    const r = await tessera([...args, '--help']);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /Example/, `${args.join(' ')} --help has no example`);
  }
});
