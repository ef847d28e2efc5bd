import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO, TEST_ENV, type TestNode, auditedEnclaveInfo, startNode, tied } from './helpers/cli.js';

let node: TestNode;
let env: NodeJS.ProcessEnv;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'] });
  const audit = await auditedEnclaveInfo(node.dir, ['godzilla', 'albus_dumbledore'], { types: ['rsa', 'ecdsa'] });
  env = {
    ...TEST_ENV,
    TESSERA_DATA: node.dir,
    TESSERA_URL: `https://127.0.0.1:${node.ports.https}`,
    TESSERA_ENCLAVE_INFO: audit.enclaveInfo,
    TESSERA_AUDITORS: audit.auditors.map((a) => `${a.publicKey}:${a.signatureFile}`).join(','),
  };
});
after(() => node.cleanup());

const runExample = (name: string, extraEnv: NodeJS.ProcessEnv = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(...tied(process.execPath, ['--no-node-snapshot', join(REPO, 'dist', 'examples', name, 'main.js')]), { env: { ...env, ...extraEnv }, cwd: REPO }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

test('examples/quickstart runs an echo task', async () => {
  const r = await runExample('quickstart');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /result: echo_payload\nstatus: Finished/);
});

test('examples/psi runs Alice and Bob’s psi with real auditor checks', async () => {
  const r = await runExample('psi');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /both parties verified the node: software attestation, measurement [0-9a-f]{64}/);
  assert.match(r.stdout, /alice \[a,b,d,e\] → \[0,1,1,0\]\nbob   \[b,c,d\]   → \[1,0,1\]\npsi: ok/);
});

test('examples/psi refuses a node the auditors did not sign for', async () => {
  const r = await runExample('psi', { TESSERA_AUDITORS: env.TESSERA_AUDITORS!.split(',')[0].replace(/godzilla\.sign/, 'albus_dumbledore.sign') });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /auditor check failed/);
});
