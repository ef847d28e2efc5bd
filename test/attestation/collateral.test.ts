import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadCollateralDir } from '../../src/attestation/collateral.js';
import { verifyTdx } from '../../src/attestation/tdx.js';
import { REPO, tempDir, tessera } from '../helpers/cli.js';

// The verifier's operator keeps the vendors' collateral in a folder (docs/trust-model.md#collateral); the CLI
// takes it as --collateral DIR, the SDK through loadCollateralDir(). Here the folder holds the real collateral
// Phala-Network/dcap-qvl published for its quote (test/fixtures/attestation/tdx/ORIGIN.md), saved the way
// Intel PCS serves it.

const TDX = join(REPO, 'test', 'fixtures', 'attestation', 'tdx');
const published = JSON.parse(readFileSync(join(TDX, 'dcap-qvl', 'tdx_quote_collateral.json'), 'utf8')) as Record<string, string>;
const quote = readFileSync(join(TDX, 'dcap-qvl', 'tdx_quote.bin'));
const evidence = (timestamp: string) => ({ version: 1 as const, provider: 'tdx' as const, mr_enclave: '', mr_signer: '', timestamp, report: quote.toString('base64'), auxiliary: null });

const made: string[] = [];
after(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const scratch = () => {
  const dir = tempDir('tessera-collateral-');
  made.push(dir);
  return dir;
};

function folder(): string {
  const dir = scratch();
  writeFileSync(join(dir, 'pck-platform.crl'), Buffer.from(published.pck_crl, 'hex'));
  writeFileSync(join(dir, 'root-ca.crl'), Buffer.from(published.root_ca_crl, 'hex'));
  writeFileSync(join(dir, 'tcb-info-b0c06f000000.json'), `{"tcbInfo":${published.tcb_info},"signature":"${published.tcb_info_signature}"}`);
  writeFileSync(join(dir, 'qe-identity.json'), `{"enclaveIdentity":${published.qe_identity},"signature":"${published.qe_identity_signature}"}`);
  writeFileSync(join(dir, 'tcb-signing-chain.pem'), published.tcb_info_issuer_chain);
  return dir;
}

test('a collateral folder gives the verifier its CRLs and TCB Info: revocation checked and TCB status evaluated', () => {
  const collateral = loadCollateralDir(folder());
  assert.equal(collateral.crls?.length, 2);
  assert.equal(collateral.tdx?.length, 1);
  const checked = verifyTdx(evidence('2025-06-20T00:00:00Z'), { collateral }, new Date('2025-06-20T01:00:00Z'));
  assert.match(checked.description, /no certificate revoked; TCB status UpToDate; MRTD/);
});

test('a collateral folder with a stray file, a file that is not a PCS response, or TCB Info without its signing chain is refused, naming the file', () => {
  const stray = folder();
  writeFileSync(join(stray, 'notes.txt'), 'x');
  assert.throws(() => loadCollateralDir(stray), /holds 'notes.txt', which is none of \*\.crl, tcb-info\*\.json, qe-identity\.json, tcb-signing-chain\.pem/);
  const notJson = folder();
  writeFileSync(join(notJson, 'tcb-info-x.json'), '<html>');
  assert.throws(() => loadCollateralDir(notJson), /tcb-info-x\.json is not JSON: save Intel PCS's response body as it came/);
  const wrong = folder();
  writeFileSync(join(wrong, 'qe-identity.json'), '{"tcbInfo":{}}');
  assert.throws(() => loadCollateralDir(wrong), /qe-identity\.json is not an Intel PCS response body: it needs "enclaveIdentity" and "signature"/);
  const corrupt = folder();
  writeFileSync(join(corrupt, 'broken.crl'), 'not a crl');
  assert.throws(() => loadCollateralDir(corrupt), /broken\.crl: a CRL in the collateral is not a DER or PEM certificate revocation list/);
  const unchained = scratch();
  mkdirSync(join(unchained, 'sub'));
  writeFileSync(join(unchained, 'tcb-info.json'), `{"tcbInfo":${published.tcb_info},"signature":"${published.tcb_info_signature}"}`);
  assert.throws(() => loadCollateralDir(unchained), /has TCB Info but no tcb-signing-chain\.pem/);
});

test('the CLI takes --collateral (and $TESSERA_COLLATERAL), and a folder it cannot read is a clear error', async () => {
  const r = await tessera(['task', 'list', '--url', 'https://127.0.0.1:1', '--insecure-skip-verification', '--collateral', '/nonexistent/collateral']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read the collateral folder \/nonexistent\/collateral/);
  const env = await tessera(['task', 'list', '--url', 'https://127.0.0.1:1', '--insecure-skip-verification'], { env: { TESSERA_COLLATERAL: '/nonexistent/env-collateral' } });
  assert.match(env.stderr, /cannot read the collateral folder \/nonexistent\/env-collateral/);
});
