import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Tessera } from '../../src/sdk/index.js';
import { REPO, type TestNode, auditedEnclaveInfo, startNode, tempDir, tessera } from '../helpers/cli.js';

// A copy of this installation, whose code the test can change.
const install = join(tempDir('tessera-install-'), 'tessera');
const bin = join(install, 'bin', 'tessera.js');
let node: TestNode;

before(async () => {
  mkdirSync(install, { recursive: true });
  for (const part of ['bin', 'dist', 'package.json', 'package-lock.json']) cpSync(join(REPO, part), join(install, part), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(install, 'node_modules'));
  node = await startNode({ users: ['alice'], bin });
});
after(async () => {
  await node.cleanup();
  rmSync(join(install, '..'), { recursive: true, force: true });
});

const mrEnclave = (toml: string) => /mr_enclave = "([0-9a-f]{64})"/.exec(toml)![1];

test("flipping one byte of the node's code changes the measurement, and the SDK refuses the node until the auditors sign again", async () => {
  const signed = await auditedEnclaveInfo(node.dir, ['auditor'], { bin });
  const alice = node.identity('alice');
  const connect = (enclaveInfo: string, signatureFile: string) =>
    Tessera.connect({
      url: `https://127.0.0.1:${node.ports.https}`,
      ca: node.ca,
      cert: alice.cert,
      key: alice.key,
      userId: 'alice',
      token: alice.token,
      enclaveInfo,
      auditors: [{ publicKey: signed.auditors[0].publicKey, signatureFile }],
      warn: () => {},
    });
  (await connect(signed.enclaveInfo, signed.auditors[0].signatureFile)).close();

  // One byte, inside a comment, so the code still runs the same.
  const target = join(install, 'dist', 'src', 'tasks', 'service.js');
  const code = readFileSync(target);
  const at = code.indexOf('//') + 3;
  code[at] = code[at] === 0x61 ? 0x62 : 0x61;
  writeFileSync(target, code);
  await node.restart();

  const before = mrEnclave(readFileSync(signed.enclaveInfo, 'utf8'));
  const measured = await tessera(['measure', '--data', node.dir]);
  assert.equal(measured.code, 0, measured.stderr);
  const after = mrEnclave(measured.stdout);
  const { execFileSync } = await import('node:child_process');
  const fromCopy = mrEnclave(execFileSync(process.execPath, ['--no-node-snapshot', bin, 'measure', '--data', node.dir], { env: { ...process.env } }).toString());
  assert.notEqual(fromCopy, before, 'the changed code has a new measurement');
  assert.equal(after, before, 'the unchanged installation still measures the same');

  await assert.rejects(connect(signed.enclaveInfo, signed.auditors[0].signatureFile), new RegExp(`the node runs measurement ${fromCopy}, which is not in the signed enclave_info.toml`));

  // The auditors measure the new code and sign again; now the SDK connects.
  const resigned = join(signed.dir, 'enclave_info.v2.toml');
  await signed.run(['measure', '--data', node.dir, '-o', resigned]);
  await signed.run(['audit', 'sign', '--key', signed.auditors[0].privateKey, resigned, '-o', `${resigned}.sig`]);
  const client = await connect(resigned, `${resigned}.sig`);
  assert.equal(client.node?.measurement.mr_enclave, fromCopy);
  client.close();
});

test('an unavailable hardware provider stops the node at start with what to do', async () => {
  const dir = join(tempDir(), 'data');
  assert.equal((await tessera(['init', '--data', dir])).code, 0);
  const toml = join(dir, 'tessera.toml');
  writeFileSync(toml, readFileSync(toml, 'utf8').replace('provider = "software"', 'provider = "sev-snp"').replace('tsm_dir = "/sys/kernel/config/tsm/report"', `tsm_dir = "${join(dir, 'no-tsm')}"`));
  const r = await tessera(['serve', '--data', dir, '--http-port', '0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no-tsm does not exist: this machine offers no configfs-tsm attestation .* use attestation.provider = "software"/);
});
