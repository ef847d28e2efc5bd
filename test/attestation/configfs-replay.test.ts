import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { tsmReport } from '../../src/attestation/configfs-tsm.js';
import { reportDataFor } from '../../src/attestation/evidence.js';
import { certTableToPem, verifySevSnp } from '../../src/attestation/sev-snp.js';
import { verifyTdx } from '../../src/attestation/tdx.js';
import { evidenceOf } from '../../src/attestation/verify.js';
import { Tessera } from '../../src/sdk/index.js';
import { type TestNode, REPO, auditedEnclaveInfo, startNode } from '../helpers/cli.js';
import { type FakeTsm, startFakeTsm } from '../helpers/configfs-tsm-fake.js';

// Issue 23: the whole attestation path on REAL hardware evidence, without the hardware. A FUSE file system
// (test/helpers/configfs-tsm-fake.py) behaves like Linux's configfs-tsm report directory and replays a real
// SEV-SNP report (with its real VCEK, ASK and ARK in auxblob's GHCB certificate table) or a real TDX quote
// (test/fixtures/attestation/*/ORIGIN.md). A real node, configured with attestation.provider = "sev-snp" or
// "tdx" and attestation.tsm_dir = that directory, makes its report through the production tsmReport
// (mkdir, provider, generation, inblob, outblob, auxblob, rmdir) and puts it in its TLS certificate.
//
// The one thing a replay cannot reproduce is the binding: the real report's report_data is what its VM
// chose, not SHA-256 of this node's TLS key (which the node did write to inblob; the fake records it).
// So the SDK must refuse the node exactly there, with 'the evidence is for another key', after every check
// before it (the chain to the vendor's root, each certificate's validity, the report's signature and
// fields) has passed on the real evidence.

const FIXTURES = join(REPO, 'test', 'fixtures', 'attestation');
const SNP_DIR = join(FIXTURES, 'snp', 'go-sev-guest');
const SNP_REPORT = join(SNP_DIR, 'attestation.bin');
const ARK_MILAN = readFileSync(join(SNP_DIR, 'ask_ark_milan.pem'), 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)![1];
const TDX_QUOTE = join(FIXTURES, 'tdx', 'trustee', 'tdx_quote_4.dat');
const INTEL_ROOT = readFileSync(join(FIXTURES, 'tdx', 'intel-root', 'Intel_SGX_Root_CA.pem'), 'utf8');

/** The DER certificate a node presents on its HTTPS port. */
function presented(node: TestNode): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: node.ports.https, ca: node.ca, servername: 'localhost' }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(raw);
    });
    socket.on('error', reject);
  });
}

const connectOptions = (node: TestNode, audit: Awaited<ReturnType<typeof auditedEnclaveInfo>>) => {
  const id = node.identity('alice');
  return {
    url: `https://127.0.0.1:${node.ports.https}`,
    ca: node.ca,
    cert: id.cert,
    key: id.key,
    userId: 'alice',
    token: id.token,
    enclaveInfo: audit.enclaveInfo,
    auditors: audit.auditors.map((a) => ({ publicKey: a.publicKey, signatureFile: a.signatureFile })),
    warn: () => {},
  };
};

/**
 * What the node wrote to inblob is the report data Tessera's binding asks for: SHA-256 of the certificate's
 * key, then SHA-256 of the measurement and time in the evidence.
 */
function assertAskedForThisKey(fake: FakeTsm, cert: Buffer) {
  const evidence = evidenceOf(cert);
  const spki = new X509Certificate(cert).publicKey.export({ format: 'der', type: 'spki' });
  const expected = reportDataFor(spki, { mr_enclave: evidence.mr_enclave, mr_signer: evidence.mr_signer }, evidence.timestamp);
  assert.ok(
    fake.inblobs.some((w) => w.data.equals(expected)),
    'the node wrote SHA-256(its TLS key) ‖ SHA-256(measurement, time) to inblob',
  );
  assert.deepEqual(readdirSync(fake.dir), [], 'the node removed its report entry');
  return expected;
}

describe('configfs-tsm replay: SEV-SNP (google/go-sev-guest, Milan)', () => {
  let fake: FakeTsm;
  let node: TestNode;
  let audit: Awaited<ReturnType<typeof auditedEnclaveInfo>>;
  before(async () => {
    fake = await startFakeTsm({ provider: 'sev_guest', outblob: SNP_REPORT, vcek: join(SNP_DIR, 'vcek.testcer.der'), askArk: join(SNP_DIR, 'ask_ark_milan.pem') });
    node = await startNode({ config: (c) => (c.attestation = { ...(c.attestation ?? {}), provider: 'sev-snp', tsm_dir: fake.dir }) });
    audit = await auditedEnclaveInfo(node.dir, ['godzilla']);
  });
  after(async () => {
    await node?.cleanup();
    await fake?.stop();
  });

  test('tsmReport through the file interface: the stored report, the certificate table, the 64 bytes written, the entry removed', async () => {
    const data = Buffer.alloc(64, 0xab);
    const { outblob, auxblob } = await tsmReport(data, 'sev_guest', fake.dir);
    assert.ok(outblob.equals(readFileSync(SNP_REPORT)));
    assert.ok(auxblob, 'auxblob carries the certificate table');
    const pem = certTableToPem(auxblob);
    const names = (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((c) => /CN=([^\n]+)/.exec(new X509Certificate(c).subject)?.[1]);
    assert.deepEqual(names, ['SEV-VCEK', 'SEV-Milan', 'ARK-Milan']);
    assert.ok(fake.inblobs.at(-1)!.data.equals(data));
    assert.deepEqual(readdirSync(fake.dir), []);
  });

  test('tsmReport: another writer changing inblob between the write and the read is detected (generation); once is retried, every time is refused', async () => {
    const data = Buffer.alloc(64, 0xcd);
    const writes = fake.inblobs.length;
    await fake.race(1);
    const { outblob } = await tsmReport(data, 'sev_guest', fake.dir);
    assert.ok(outblob.equals(readFileSync(SNP_REPORT)));
    assert.equal(fake.inblobs.length - writes, 2, 'inblob written again after the race');
    await fake.race(3);
    await assert.rejects(
      tsmReport(data, 'sev_guest', fake.dir),
      /configfs-tsm: another writer changed .*tessera-[0-9a-f]{12} while this report was made, 3 times \(after reading outblob, generation 2, not 1; after reading outblob, generation 4, not 3; after reading outblob, generation 6, not 5\)/,
    );
    await fake.race(0);
    assert.deepEqual(readdirSync(fake.dir), []);
  });

  test('tsmReport: a provider other than the one configured is refused', async () => {
    await assert.rejects(tsmReport(Buffer.alloc(64), 'tdx_guest', fake.dir), /configfs-tsm provider is 'sev_guest', not 'tdx_guest'/);
  });

  test("the node's certificate carries the real report byte for byte, with its real chain, and the SEV-SNP verifier accepts it", async () => {
    const cert = await presented(node);
    const evidence = evidenceOf(cert);
    assert.equal(evidence.provider, 'sev-snp');
    assert.ok(Buffer.from(evidence.report, 'base64').equals(readFileSync(SNP_REPORT)), 'the report is the stored real one');
    const checked = verifySevSnp(evidence, {});
    assert.equal(checked.hardware, true);
    assert.match(checked.description, /AMD SEV-SNP \(Milan-B0\): report signed by a VCEK chaining to ARK-Milan; reported TCB bootloader 2, tee 0, snp 5, microcode 68; .*guest launch measurement b07af962/);
    // The report data is the one go-sev-guest's VM chose (0102030405, then zeros), not this node's binding.
    assert.equal(checked.reportData.toString('hex'), '0102030405'.padEnd(128, '0'));
    assertAskedForThisKey(fake, cert);
  });

  test('the SDK checks the real chain and report, then refuses the node at the report-data binding (the one thing a replay cannot reproduce)', async () => {
    // With no roots given, the SDK uses AMD's roots pinned in Tessera, as a user on a real confidential VM would.
    await assert.rejects(Tessera.connect({ ...connectOptions(node, audit), trust: {} }), /attestation check failed: the evidence is for another key/);
    await assert.rejects(Tessera.connect({ ...connectOptions(node, audit), trust: { sevSnpRoots: [ARK_MILAN] } }), /attestation check failed: the evidence is for another key/);
    // Without AMD's root the same evidence is refused earlier, at the chain: the binding is reached only after it.
    await assert.rejects(Tessera.connect({ ...connectOptions(node, audit), trust: { sevSnpRoots: [INTEL_ROOT] } }), /the AMD SEV-SNP chain ends in 'ARK-Milan', a root that is not trusted \(trusted: Intel SGX Root CA\)/);
  });
});

describe('configfs-tsm replay: TDX (confidential-containers/trustee, quote 4)', () => {
  let fake: FakeTsm;
  let node: TestNode;
  let audit: Awaited<ReturnType<typeof auditedEnclaveInfo>>;
  before(async () => {
    fake = await startFakeTsm({ provider: 'tdx_guest', outblob: TDX_QUOTE });
    node = await startNode({ config: (c) => (c.attestation = { ...(c.attestation ?? {}), provider: 'tdx', tsm_dir: fake.dir }) });
    audit = await auditedEnclaveInfo(node.dir, ['godzilla']);
  });
  after(async () => {
    await node?.cleanup();
    await fake?.stop();
  });

  test('tsmReport: the stored quote, no auxblob (TDX has none: the PCK chain is inside the quote)', async () => {
    const { outblob, auxblob } = await tsmReport(Buffer.alloc(64, 1), 'tdx_guest', fake.dir);
    assert.ok(outblob.equals(readFileSync(TDX_QUOTE)));
    assert.equal(auxblob, null);
  });

  test("the node's certificate carries the real quote byte for byte, and the TDX verifier accepts it", async () => {
    const cert = await presented(node);
    const evidence = evidenceOf(cert);
    assert.equal(evidence.provider, 'tdx');
    assert.ok(Buffer.from(evidence.report, 'base64').equals(readFileSync(TDX_QUOTE)), 'the quote is the stored real one');
    const checked = verifyTdx(evidence, {});
    assert.equal(checked.hardware, true);
    assert.match(checked.description, /Intel TDX: quote \(v4\) signed by Intel's TD quoting enclave, whose PCK chains to Intel SGX Root CA; .*DEBUG trust domain/);
    const binding = assertAskedForThisKey(fake, cert);
    assert.ok(!checked.reportData.equals(binding), "the quote's report data is its own TD's, not this node's");
  });

  test('the SDK checks the real PCK chain and quote, then refuses the node at the report-data binding', async () => {
    await assert.rejects(Tessera.connect({ ...connectOptions(node, audit), trust: {} }), /attestation check failed: the evidence is for another key/);
    await assert.rejects(Tessera.connect({ ...connectOptions(node, audit), trust: { tdxRoots: [ARK_MILAN] } }), /the Intel PCK chain ends in 'Intel SGX Root CA', a root that is not trusted \(trusted: ARK-Milan\)/);
  });
});
