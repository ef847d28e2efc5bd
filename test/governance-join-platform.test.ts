import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createCertificateAuthority, issueCertificate } from '../src/crypto/certificates.js';
import { type EvidenceCheck, type NodeInfo, joinProblem } from '../src/governance/nodes.js';
import { GOV } from '../src/governance/tables.js';
import { SqliteStore } from '../src/store/sqlite.js';

// Issue 23 review: a joining node must run on a platform a Trusted node runs on (the provider and what the
// hardware measured of the guest), not only the same Tessera measurement: the same code in a debug guest, in
// another guest image or on the software provider is not the node members trusted. The evidence check is
// the node's own (attestation/verify.ts); here it is a stand-in that reads the platform from the certificate's
// common name, since building hardware evidence is not what this test is about.

const dir = mkdtempSync(join(tmpdir(), 'tessera-join-platform-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const store = new SqliteStore(join(dir, 'store.sqlite'));
after(() => store.close());
const ca = await createCertificateAuthority('service CA');
const certFor = async (platform: string) => (await issueCertificate(ca, { name: platform, role: 'service' })).certPem;
const check: EvidenceCheck = (der) => ({ measurement: 'm'.repeat(64), platform: /CN=([^,\n]+)/.exec(new X509Certificate(der).subject)![1] });
const row = (status: NodeInfo['status'], attested: string): NodeInfo => ({
  cert: attested,
  status,
  quote_info: null,
  measurement: 'm'.repeat(64),
  attested_cert: attested,
  node_data: { name: status },
  ledger_secret_seqno: 0,
  retired_committed: false,
});

test('a joining node on another platform than every Trusted node is refused, naming both; on the same platform it may join', async () => {
  const trusted = await certFor('sev-snp launch measurement aaa');
  store.transact((tx) => {
    tx.put<NodeInfo>(GOV.nodesInfo, 'trusted', row('Trusted', trusted));
    return null;
  });
  const put = async (platform: string) => {
    const cert = await certFor(platform);
    store.transact((tx) => {
      tx.put<NodeInfo>(GOV.nodesInfo, 'joining', row('Pending', cert));
      return null;
    });
  };
  await put('sev-snp launch measurement bbb (debug)');
  assert.match(
    store.read((tx) => joinProblem(tx, 'joining', ca.certPem, check)) ?? '',
    /node joining runs on sev-snp launch measurement bbb \(debug\), which no Trusted node runs on \(sev-snp launch measurement aaa\): start it on the same kind of machine and guest image as the service/,
  );
  await put('software');
  assert.match(store.read((tx) => joinProblem(tx, 'joining', ca.certPem, check)) ?? '', /runs on software, which no Trusted node runs on/);
  await put('sev-snp launch measurement aaa');
  assert.equal(store.read((tx) => joinProblem(tx, 'joining', ca.certPem, check)), null);
});
