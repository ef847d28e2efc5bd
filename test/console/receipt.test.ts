import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CHECK_NAMES, type ReceiptVerdict, verifyReceiptInBrowser } from '../../src/console/lib/receipt.js';
import { receiptVerdict } from '../../src/sdk/node-reads.js';
import type { Receipt } from '../../src/store/receipt.js';
import { type TestNode, startNode, tempDir, tessera } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';

// The console's receipt verifier against the CLI's (receiptVerdict, src/sdk/node-reads.ts) on a real
// node's receipts, genuine, tampered and malformed: same verdict, and the failing check named.

let node: TestNode;
let otherCa: string;
const receipts: Array<{ txId: string; receipt: Receipt }> = [];

const get = (path: string) => https(`https://127.0.0.1:${node.ports.https}${path}`, { ...node.identity('alice'), ca: node.ca });

async function receiptFor(txId: string): Promise<Receipt> {
  for (let i = 0; i < 200; i++) {
    const r = await get(`/app/receipt?transaction_id=${txId}`);
    if (r.status === 200) return r.json();
    assert.equal(r.status, 202, r.body.toString()); // committed, not yet signed
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no receipt for ${txId}`);
}

before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.ledger = { signature_interval_ms: 50 }) });
  for (let i = 0; i < 3; i++) {
    const r = await https(`https://127.0.0.1:${node.ports.https}/v1/tasks`, { ...node.identity('alice'), ca: node.ca }, { method: 'POST', json: { function_name: 'echo' } });
    assert.equal(r.status, 201, r.body.toString());
  }
  const commit = (await get('/app/commit')).json().transaction_id as string;
  const last = Number(commit.split('.')[1]);
  for (const seqno of [...new Set([1, 2, Math.ceil(last / 2), last])]) receipts.push({ txId: `2.${seqno}`, receipt: await receiptFor(`2.${seqno}`) });
  // Another service's identity: a second data directory's ca.pem (init only, no node needed).
  const other = join(tempDir(), 'data');
  const init = await tessera(['init', '--data', other, '--users', 'x']);
  assert.equal(init.code, 0, init.stderr);
  otherCa = readFileSync(join(other, 'ca.pem'), 'utf8');
});
after(() => node.cleanup());

/** Both verdicts for the same input: the console's, and the CLI's without its check list. */
async function both(receipt: unknown, serviceCert: string) {
  const browser = await verifyReceiptInBrowser(receipt, serviceCert);
  const cli = receiptVerdict(receipt as Receipt, serviceCert);
  return { browser, cli };
}

const failed = (v: ReceiptVerdict) => v.checks.filter((c) => !c.ok && !c.detail.startsWith('not checked')).map((c) => c.name);
const withoutChecks = ({ checks: _checks, ...rest }: ReceiptVerdict) => rest;

/** A tampered receipt: both refuse it for the same reason, and the console names `check` as the failure. */
async function assertSameRefusal(receipt: unknown, serviceCert: string, check: string, reason: RegExp) {
  const { browser, cli } = await both(receipt, serviceCert);
  assert.equal(cli.ok, false);
  assert.equal(browser.ok, false);
  assert.deepEqual(withoutChecks(browser), cli, 'the console and the CLI give the same verdict');
  assert.match(browser.reason!, reason);
  assert.equal(failed(browser)[0], check, JSON.stringify(browser.checks, null, 2));
  return browser;
}

const flipHex = (hex: string, at = 10) => hex.slice(0, at) + ((parseInt(hex[at], 16) ^ 1).toString(16)) + hex.slice(at + 1);

test('genuine receipts verify with the service certificate, with the same leaf and root as the CLI', async () => {
  assert.ok(receipts.length >= 3);
  assert.ok(receipts.some((r) => r.receipt.proof.length > 0));
  for (const { txId, receipt } of receipts) {
    const { browser, cli } = await both(receipt, node.ca);
    assert.equal(cli.ok, true, `${txId}: ${JSON.stringify(cli)}`);
    assert.deepEqual(withoutChecks(browser), cli, txId);
    assert.deepEqual(
      browser.checks.map((c) => [c.name, c.ok]),
      Object.values(CHECK_NAMES).map((n) => [n, true]),
    );
    assert.match(browser.checks[1].detail, new RegExp(`^${receipt.proof.length} steps? from the leaf to root ${browser.root}$`));
    // The JSON text (what the console's paste box gives) verifies the same.
    assert.deepEqual(await verifyReceiptInBrowser(JSON.stringify(receipt), node.ca), browser);
  }
});

test('another service certificate: not endorsed, as the CLI says', async () => {
  const { receipt } = receipts[0];
  const v = await assertSameRefusal(receipt, otherCa, CHECK_NAMES.endorsement, /not endorsed by the service identity/);
  assert.deepEqual(v.checks.map((c) => c.ok), [true, true, true, false], 'the signature itself is fine');
});

test('service_endorsements are followed in order, as the CLI does', async () => {
  const { receipt } = receipts[0];
  // The service certificate endorsing itself (self-signed) is a valid one-link chain; another service's is not.
  const good = await both({ ...receipt, service_endorsements: [node.ca] }, node.ca);
  assert.equal(good.cli.ok, true);
  assert.deepEqual(withoutChecks(good.browser), good.cli);
  assert.match(good.browser.checks[3].detail, /through 1 endorsement$/);
  await assertSameRefusal({ ...receipt, service_endorsements: [otherCa] }, node.ca, CHECK_NAMES.endorsement, /not endorsed/);
  await assertSameRefusal({ ...receipt, service_endorsements: [node.ca] }, otherCa, CHECK_NAMES.endorsement, /not endorsed/);
});

test('a flipped byte in a proof hash, the signature or the write-set digest: the signature over the root fails', async () => {
  const { receipt } = receipts.find((r) => r.receipt.proof.length > 0)!;
  const sigFails = /signature does not verify over the root the proof gives/;

  const badProof = structuredClone(receipt);
  const step = badProof.proof[0] as Record<string, string>;
  const side = Object.keys(step)[0];
  step[side] = flipHex(step[side]);
  const v1 = await assertSameRefusal(badProof, node.ca, CHECK_NAMES.signature, sigFails);
  // The proof still folds (to another root): only the signature can tell it is not the signed one.
  assert.deepEqual(v1.checks.map((c) => c.ok), [true, true, false, true]);

  for (const at of [-1, 20]) {
    const sig = Buffer.from(receipt.signature, 'base64');
    sig[at < 0 ? sig.length + at : at] ^= 0x01;
    await assertSameRefusal({ ...receipt, signature: sig.toString('base64') }, node.ca, CHECK_NAMES.signature, sigFails);
  }

  const badWrites = structuredClone(receipt);
  badWrites.leaf_components.write_set_digest = flipHex(badWrites.leaf_components.write_set_digest, 0);
  await assertSameRefusal(badWrites, node.ca, CHECK_NAMES.signature, sigFails);

  const badEvidence = structuredClone(receipt);
  badEvidence.leaf_components.commit_evidence = badEvidence.leaf_components.commit_evidence.replace(/^ce:2\.\d+:/, 'ce:2.999999:');
  await assertSameRefusal(badEvidence, node.ca, CHECK_NAMES.signature, sigFails);

  // Another transaction's signature (a genuine one, over another root) does not verify over this root either.
  const other = receipts.find((r) => r.receipt.signature !== receipt.signature)?.receipt;
  if (other) await assertSameRefusal({ ...receipt, signature: other.signature }, node.ca, CHECK_NAMES.signature, sigFails);
});

test('malformed leaf components: refused at the leaf with the CLI reason', async () => {
  const { receipt } = receipts[0];
  const malformed = /^receipt check failed: its leaf components are missing or malformed$/;
  const cases: Array<(r: any) => void> = [
    (r) => delete r.leaf_components,
    (r) => (r.leaf_components = 'x'),
    (r) => (r.leaf_components.write_set_digest = r.leaf_components.write_set_digest.toUpperCase().replace(/^[0-9]/, 'A')), // upper case: not the CLI's form
    (r) => (r.leaf_components.write_set_digest = r.leaf_components.write_set_digest.slice(2)),
    (r) => (r.leaf_components.claims_digest = 'zz'.repeat(32)),
    (r) => (r.leaf_components.claims_digest = 0),
    (r) => (r.leaf_components.commit_evidence = 'ce:2:abc'),
    (r) => delete r.leaf_components.commit_evidence,
  ];
  for (const mutate of cases) {
    const r = structuredClone(receipt);
    mutate(r);
    const v = await assertSameRefusal(r, node.ca, CHECK_NAMES.leaf, malformed);
    assert.equal(v.checks.find((c) => c.name === CHECK_NAMES.signature)!.ok, false);
  }
});

test('other malformed shapes: never a throw, refused by both, the console saying what is wrong', async () => {
  const { receipt } = receipts.find((r) => r.receipt.proof.length > 0)!;
  const cases: Array<{ input: unknown; check: string; reason: RegExp }> = [
    { input: null, check: CHECK_NAMES.leaf, reason: /not a JSON object \(it is null\)/ },
    { input: [receipt], check: CHECK_NAMES.leaf, reason: /not a JSON object \(it is an array\)/ },
    { input: 42, check: CHECK_NAMES.leaf, reason: /not a JSON object \(it is number\)/ },
    { input: '{"signature": ', check: CHECK_NAMES.leaf, reason: /the receipt is not JSON/ },
    { input: { ...receipt, proof: undefined }, check: CHECK_NAMES.proof, reason: /proof is missing or not a list/ },
    { input: { ...receipt, proof: 'abc' }, check: CHECK_NAMES.proof, reason: /proof is missing or not a list/ },
    { input: { ...receipt, proof: [{ up: 'a'.repeat(64) }] }, check: CHECK_NAMES.proof, reason: /proof step 0 is not \{left: HASH\} or \{right: HASH\}/ },
    { input: { ...receipt, proof: [{ left: 'a'.repeat(64), right: 'b'.repeat(64) }] }, check: CHECK_NAMES.proof, reason: /proof step 0 is not \{left/ },
    { input: { ...receipt, proof: [{ left: 'xyz' }] }, check: CHECK_NAMES.proof, reason: /proof step 0 is not a 32-byte hex hash/ },
    { input: { ...receipt, proof: [...receipt.proof, { right: 12 }] }, check: CHECK_NAMES.proof, reason: new RegExp(`proof step ${receipt.proof.length} is not a 32-byte hex hash`) },
    { input: { ...receipt, signature: 7 }, check: CHECK_NAMES.signature, reason: /signature is missing or not a string/ },
    { input: { ...receipt, signature: 'not base64!' }, check: CHECK_NAMES.signature, reason: /signature is not base64/ },
    { input: { ...receipt, signature: '' }, check: CHECK_NAMES.signature, reason: /signature does not verify/ },
    { input: { ...receipt, cert: undefined }, check: CHECK_NAMES.signature, reason: /node certificate is missing/ },
    { input: { ...receipt, cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }, check: CHECK_NAMES.signature, reason: /node certificate cannot be read as an X\.509 certificate/ },
    { input: { ...receipt, cert: otherCa }, check: CHECK_NAMES.signature, reason: /signature does not verify/ },
    { input: { ...receipt, service_endorsements: 'x' }, check: CHECK_NAMES.endorsement, reason: /service_endorsements is not a list/ },
    { input: { ...receipt, service_endorsements: [5] }, check: CHECK_NAMES.endorsement, reason: /service endorsement 0 is missing/ },
  ];
  for (const { input, check, reason } of cases) {
    const browser = await verifyReceiptInBrowser(input, node.ca);
    assert.equal(browser.ok, false, JSON.stringify(input));
    assert.match(browser.reason!, /^receipt check failed: /);
    assert.match(browser.reason!, reason);
    assert.equal(failed(browser)[0], check, `${JSON.stringify(browser.checks)}`);
    assert.equal(browser.root, undefined);
    assert.equal(receiptVerdict(input as Receipt, node.ca).ok, false, `the CLI refuses it too: ${JSON.stringify(input)}`);
  }
  // A service certificate that is not one.
  const v = await verifyReceiptInBrowser(receipts[0].receipt, 'not a certificate');
  assert.equal(v.ok, false);
  assert.equal(failed(v)[0], CHECK_NAMES.endorsement);
  assert.match(v.reason!, /the service certificate cannot be read as an X\.509 certificate/);
  assert.equal(receiptVerdict(receipts[0].receipt, 'not a certificate').ok, false);
});
