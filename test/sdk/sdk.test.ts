import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Tessera, type ConnectOptions } from '../../src/sdk/index.js';
import { createCertificateAuthority } from '../../src/crypto/certificates.js';
import { type TestNode, auditedEnclaveInfo, startNode, tempDir } from '../helpers/cli.js';
import { letterRecords } from '../helpers/files.js';

let node: TestNode;
let audit: Awaited<ReturnType<typeof auditedEnclaveInfo>>;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'] });
  audit = await auditedEnclaveInfo(node.dir, ['godzilla', 'optimus_prime'], { types: ['rsa', 'ecdsa'] });
});
after(() => node.cleanup());

const baseOptions = (user: string, extra: Partial<ConnectOptions> = {}): ConnectOptions => {
  const id = node.identity(user);
  return {
    url: `https://127.0.0.1:${node.ports.https}`,
    ca: node.ca,
    cert: id.cert,
    key: id.key,
    userId: user,
    token: id.token,
    enclaveInfo: audit.enclaveInfo,
    auditors: audit.auditors.map((a) => ({ publicKey: a.publicKey, signatureFile: a.signatureFile })),
    warn: () => {},
    ...extra,
  };
};

const options = baseOptions;

describe('connecting', () => {
  test('verifies the auditors and the node, and says plainly that software attestation proves nothing about hardware', async () => {
    const warnings: string[] = [];
    const client = await Tessera.connect(options('alice', { warn: (m) => warnings.push(m) }));
    assert.equal(client.node?.provider, 'software');
    assert.equal(client.node?.hardware, false);
    assert.equal(client.node?.measurement.mr_enclave, readFileSync(audit.enclaveInfo, 'utf8').match(/mr_enclave = "([0-9a-f]{64})"/)![1]);
    assert.match(warnings.join('\n'), /software attestation: .* proves nothing about the hardware/);
    client.close();
  });

  test('a tampered enclave_info.toml is refused, naming the auditor check', async () => {
    const tampered = join(tempDir(), 'enclave_info.toml');
    writeFileSync(tampered, readFileSync(audit.enclaveInfo, 'utf8').replace(/mr_enclave = "(.)/, (_m, c) => `mr_enclave = "${c === 'a' ? 'b' : 'a'}`));
    await assert.rejects(Tessera.connect(options('alice', { enclaveInfo: tampered })), /auditor check failed: the signature of 'godzilla.pub.pem' does not verify over enclave_info.toml/);
  });

  test("a wrong auditor key is refused", async () => {
    const other = await auditedEnclaveInfo(node.dir, ['mallory']);
    const auditors = [{ publicKey: other.auditors[0].publicKey, signatureFile: audit.auditors[0].signatureFile }];
    await assert.rejects(Tessera.connect(options('alice', { auditors })), /auditor check failed: the signature of 'mallory.pub.pem' does not verify/);
  });

  test('a missing signature, or no auditors at all, is refused unless verification is explicitly skipped', async () => {
    await assert.rejects(Tessera.connect(options('alice', { auditors: [{ publicKey: audit.auditors[0].publicKey }] })), /auditor 'godzilla.pub.pem' has no signature/);
    await assert.rejects(Tessera.connect(options('alice', { auditors: [] })), /verification needs enclaveInfo and at least one auditor; to connect without any check, pass insecureSkipVerification: true/);
    const warnings: string[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await Tessera.connect(options('alice', { auditors: undefined, enclaveInfo: undefined, insecureSkipVerification: true, warn: (m) => warnings.push(m) }));
      assert.equal(c.node, null);
      c.close();
    }
    assert.equal(warnings.filter((w) => /insecureSkipVerification is set/.test(w)).length, 2, 'a warning on every connect');
  });

  test('stale evidence is refused', async () => {
    await assert.rejects(Tessera.connect(options('alice', { maxEvidenceAgeMs: 1 })), /attestation check failed: stale evidence: made .*; at most 0 s is accepted/);
  });

  test('a measurement not on the signed list is refused, with what to do', async () => {
    const other = join(tempDir(), 'enclave_info.toml');
    writeFileSync(other, readFileSync(audit.enclaveInfo, 'utf8').replaceAll(/mr_enclave = "[0-9a-f]{64}"/g, `mr_enclave = "${'0'.repeat(64)}"`));
    await audit.run(['audit', 'sign', '--key', audit.auditors[0].privateKey, other, '-o', `${other}.sig`]);
    await assert.rejects(
      Tessera.connect(options('alice', { enclaveInfo: other, auditors: [{ publicKey: audit.auditors[0].publicKey, signatureFile: `${other}.sig` }] })),
      /the node runs measurement [0-9a-f]{64}, which is not in the signed enclave_info.toml; .* have them measure and sign again/,
    );
  });

  test('a node certificate from another CA is refused', async () => {
    const otherCa = await createCertificateAuthority('Elsewhere');
    await assert.rejects(Tessera.connect(options('alice', { ca: otherCa.certPem })), /the node's certificate is not issued by the CA you trust/);
  });

  test("an identity that is not userId's is refused before connecting", async () => {
    await assert.rejects(Tessera.connect(options('alice', { userId: 'bob' })), /the certificate is alice's, not bob's/);
  });
});

for (const transport of ['rest', 'wire'] as const) describe(`tasks and files over ${transport}`, () => {
  const options = (user: string, extra: Partial<ConnectOptions> = {}): ConnectOptions =>
    transport === 'rest'
      ? baseOptions(user, extra)
      : { ...baseOptions(user, extra), url: undefined, wire: { tms: `127.0.0.1:${node.ports.tms_external}`, tdfs: `127.0.0.1:${node.ports.tdfs_external}` } };

  test('createTask and task.invoke; getTask; listTasks; task(id)', async () => {
    const alice = await Tessera.connect(options('alice'));
    const task = await alice.createTask('echo');
    assert.match(task.taskToken, /^[0-9a-f]{32}$/);
    assert.equal((await alice.getTask(task.taskId)).status, 'Ready');
    assert.equal(await task.invoke('hello sdk'), 'hello sdk');
    assert.equal((await alice.getTask(task.taskId)).status, 'Finished');
    assert.ok((await alice.listTasks()).includes(task.taskId));
    const again = await alice.task(task.taskId);
    await assert.rejects(again.invoke('twice'), (err: any) => err.status === 403 && /Finished, not Ready/.test(err.message));
    alice.close();
  });

  test('uploadFile (path with progress, Buffer, stream), getFile, readFile, downloadFile, listFiles, deleteFile', async () => {
    const alice = await Tessera.connect(options('alice'));
    const dir = tempDir();
    const path = join(dir, 'data.bin');
    const content = Buffer.alloc(300_000, 0x5a);
    writeFileSync(path, content);
    const seen: Array<[number, number]> = [];
    const fromPath = await alice.uploadFile(path, { onProgress: (done, total) => seen.push([done, total]) });
    assert.deepEqual(seen.at(-1), [300_000, 300_000]);
    const fromBuffer = await alice.uploadFile(Buffer.from('buffer'), { fileName: 'b.txt' });
    const fromStream = await alice.uploadFile(Readable.from([Buffer.from('str'), Buffer.from('eam')]));

    const info = await alice.getFile(fromPath);
    assert.equal(info.file_name, 'data.bin');
    assert.equal(info.file_size, 300_000);
    assert.equal(info.sha256, createHash('sha256').update(content).digest('hex'));
    assert.equal((await alice.readFile(fromBuffer)).toString(), 'buffer');
    assert.equal((await alice.readFile(fromStream)).toString(), 'stream');
    const out = join(dir, 'out.bin');
    const progress: number[] = [];
    await alice.downloadFile(fromPath, out, { onProgress: (d) => progress.push(d) });
    assert.ok(readFileSync(out).equals(content));
    assert.equal(progress.at(-1), 300_000, 'progress counts plaintext bytes (what the user has), not the ciphertext and its tag');

    const files = await alice.listFiles();
    for (const f of [fromPath, fromBuffer, fromStream]) assert.ok(files.includes(f));
    await alice.deleteFile(fromBuffer);
    assert.ok(!(await alice.listFiles()).includes(fromBuffer));
    await assert.rejects(alice.getFile(fromBuffer), (err: any) => err.status === 404 && err.code === (transport === 'rest' ? 'ResourceNotFound' : 'MissingValue'));
    assert.ok(!existsSync(`${out}.part-${process.pid}`));
    alice.close();
  });

  test('createTaskWithFiles', async () => {
    const alice = await Tessera.connect(options('alice'));
    const pw = await alice.uploadFile(Buffer.from('letmein\n'));
    const list = await alice.uploadFile(Buffer.from('123456\nletmein\n'));
    const task = await alice.createTaskWithFiles('password_check', [pw, list]);
    assert.equal(await task.invoke(), 'true');
    alice.close();
  });

  test('createTaskWithCollaborators, approveTaskWithFiles and getTaskResults: the psi flow', async () => {
    const alice = await Tessera.connect(options('alice'));
    const bob = await Tessera.connect(options('bob'));
    const aliceFile = await alice.uploadFile(letterRecords('abde'));
    const bobFile = await bob.uploadFile(letterRecords('bcd'));
    const task = await alice.createTaskWithCollaborators('psi', ['bob'], [aliceFile]);
    assert.equal((await bob.getTask(task.taskId)).status, 'Created');
    assert.equal((await bob.approveTaskWithFiles(task.taskId, [bobFile])).status, 'Ready');
    assert.equal(await (await bob.task(task.taskId)).invoke(), 'Finished');
    const [aliceResult] = await alice.getTaskResults(task.taskId);
    const [bobResult] = await bob.getTaskResults(task.taskId);
    assert.deepEqual([...(await alice.readFile(aliceResult))], [0, 1, 1, 0]);
    assert.deepEqual([...(await bob.readFile(bobResult))], [1, 0, 1]);
    alice.close();
    bob.close();
  });

  test('getTaskResults lists private results first, then the shared one', async () => {
    const alice = await Tessera.connect(options('alice'));
    const bob = await Tessera.connect(options('bob'));
    const task = await alice.createTaskWithCollaborators('swap_file', ['bob'], [await alice.uploadFile(Buffer.from('A'))]);
    await bob.approveTaskWithFiles(task.taskId, [await bob.uploadFile(Buffer.from('B'))]);
    const shared = await task.invoke();
    const results = await alice.getTaskResults(task.taskId);
    assert.equal(results.length, 2);
    assert.equal(results[1], shared);
    assert.equal((await alice.readFile(results[0])).toString(), 'B');
    alice.close();
    bob.close();
  });
});

test('over the wire, the SDK refuses a listener whose evidence does not check out, as over REST', async () => {
  await assert.rejects(
    Tessera.connect({ ...baseOptions('alice', { maxEvidenceAgeMs: 1 }), url: undefined, wire: { tms: `127.0.0.1:${node.ports.tms_external}`, tdfs: `127.0.0.1:${node.ports.tdfs_external}` } }),
    /attestation check failed: stale evidence/,
  );
  await assert.rejects(Tessera.connect({ ...baseOptions('alice'), wire: { tms: 'x:1', tdfs: 'y:2' } }), /give the node as url \(REST\) or as wire addresses, one of the two/);
});
