import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { consoleUrl, contextWithCertificate, launchChromium, openView, signInMember, signInUser } from '../helpers/browser.js';
import { member } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';

// Issue 21's bad inputs, each in the browser: the console shows a clear message and the node's state is
// exactly as it was.

let node: TestNode;
let browser: Browser;

before(async () => {
  node = await startNode({ users: ['alice', 'bob'], members: ['m0', 'm1', 'm2'] });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close().catch(() => {});
  await node?.cleanup();
});

const as = (user: string) => ({ ...node.identity(user), ca: node.ca });
const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;
const proposals = async () => (await https(url('/gov/members/proposals?api-version=2024-07-01'), { ca: node.ca })).json().value as Array<{ proposalId: string; proposalState: string }>;

test('a wrong token signs nobody in, and says which token to use', async () => {
  const page = await (await contextWithCertificate(browser, node, 'alice')).newPage();
  await page.goto(consoleUrl(node));
  await page.getByLabel('Bearer token').fill(node.identity('bob').token);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match((await alert.textContent())!, /Not signed in/);
  assert.match((await alert.textContent())!, /token/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tessera.token')), null, 'a refused token is not kept');
  await page.getByRole('link', { name: 'not signed in' }).waitFor();
  await page.context().close();
});

test('a browser without the certificate is told to install it', async () => {
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await page.goto(consoleUrl(node));
  await page.getByLabel('Bearer token').fill(node.identity('alice').token);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  const text = await page.getByRole('alert').textContent();
  assert.match(text!, /client certificate/);
  assert.match(text!, /Install your identity's certificate in this browser/);
  await page.context().close();
});

test('a member key that does not belong to the certificate is refused, and nothing is stored', async () => {
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await page.goto(consoleUrl(node));
  const dir = identitiesDirOf(node.dir);
  await page.getByLabel('…or paste it').first().fill(readFileSync(join(dir, 'm1', 'key.pem'), 'utf8'));
  await page.getByLabel('…or paste it').nth(1).fill(readFileSync(join(dir, 'm0', 'cert.pem'), 'utf8'));
  await page.getByRole('button', { name: 'Import the member key' }).click();
  const text = await page.getByRole('alert').textContent();
  assert.match(text!, /Member key not imported/);
  assert.match(text!, /does not match|not the key of/i);
  await page.reload();
  await page.getByRole('button', { name: 'Import the member key' }).waitFor();
  assert.equal(await page.getByText('This browser holds the signing key').count(), 0);
  await page.context().close();
});

test('a download that fails to decrypt shows why and hands out nothing', async () => {
  const page = await signInUser(browser, node, 'alice');
  await openView(page, 'Files');
  await page.getByLabel('File to encrypt and upload').setInputFiles({ name: 'kept.bin', mimeType: 'application/octet-stream', buffer: randomBytes(4096) });
  await page.getByRole('button', { name: 'Encrypt and upload', exact: true }).click();
  const fileId = (await page.getByText(/^Uploaded kept\.bin as /).textContent())!.replace(/^.* as /, '').trim();
  // Altered in transit: one ciphertext byte flipped on its way to the browser.
  await page.route(`**/v1/files/${fileId}/content`, async (route) => {
    const res = await route.fetch();
    const body = Buffer.from(await res.body());
    body[100] ^= 1;
    await route.fulfill({ response: res, body });
  });
  let downloads = 0;
  page.on('download', () => downloads++);
  const row = page.locator(`tr[data-file-id="${fileId}"]`);
  await row.getByRole('button', { name: /Download and decrypt/ }).click();
  assert.match((await row.getByRole('alert').textContent())!, /does not decrypt: its tag does not verify/);
  assert.equal(await row.locator('pre.decrypted').count(), 0);
  assert.equal(downloads, 0);
  await page.context().close();
});

test('a proposal that is not JSON, or that the node refuses, is not made', async () => {
  const before = await proposals();
  const page = await signInMember(browser, node, 'm0');
  await openView(page, 'Governance');
  await page.getByLabel('Proposal (JSON)').fill('{ "actions": [ { "name": ');
  await page.getByRole('button', { name: 'Sign and propose' }).click();
  assert.match((await page.getByRole('alert').textContent())!, /Not proposed: the proposal is not JSON/);
  await page.getByLabel('Proposal (JSON)').fill(JSON.stringify({ actions: [{ name: 'no_such_action', args: {} }] }));
  await page.getByRole('button', { name: 'Sign and propose' }).click();
  const refusal = await page.getByRole('alert').textContent();
  assert.match(refusal!, /Not proposed/);
  assert.match(refusal!, /no_such_action/);
  assert.deepEqual(await proposals(), before, 'no proposal was recorded');
  await page.context().close();
});

test('a vote on a proposal that closed meanwhile gets the node’s refusal and changes nothing', async () => {
  const [m0, m1] = [member(node, 'm0'), member(node, 'm1')];
  const p = (await m0.propose({ actions: [{ name: 'set_member_data', args: { member_id: m0.id, member_data: { name: 'm0' } } }] })).json();
  assert.ok(p.proposalId, JSON.stringify(p));
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await signInMember(browser, node, 'm2');
  void context.close();
  // The view's own refresh is held, as a member's stale tab would be.
  await page.clock.install();
  await openView(page, 'Governance');
  const card = page.locator(`article[data-proposal-id="${p.proposalId}"]`);
  await card.getByRole('button', { name: `Vote for proposal ${p.proposalId}` }).waitFor();
  await m0.vote(p.proposalId, ACCEPT_BALLOT);
  assert.equal((await m1.vote(p.proposalId, ACCEPT_BALLOT)).json().proposalState, 'Accepted');
  const ballotsBefore = (await https(url(`/gov/members/proposals/${p.proposalId}?api-version=2024-07-01`), { ca: node.ca })).json();
  await card.getByRole('button', { name: `Vote for proposal ${p.proposalId}` }).click();
  assert.match((await card.getByRole('alert').textContent())!, /is currently in state Accepted - only Open proposals can receive votes/);
  const after = (await https(url(`/gov/members/proposals/${p.proposalId}?api-version=2024-07-01`), { ca: node.ca })).json();
  assert.deepEqual(after, ballotsBefore);
  await page.context().close();
});

test('a node that goes away mid-upload: the upload stops with a clear message and no file becomes available', async () => {
  const own = await startNode({ users: ['alice'] });
  try {
    const page = await signInUser(browser, own, 'alice');
    await openView(page, 'Files');
    // A slow uplink, so that the node can be stopped while the ciphertext is on its way.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
    await page.getByLabel('File to encrypt and upload').setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: randomBytes(1536 * 1024) });
    await page.getByRole('button', { name: 'Encrypt and upload', exact: true }).click();
    await page.getByText(/^Upload: uploading/).waitFor({ timeout: 30_000 });
    await own.stop('SIGKILL');
    // (Through playwright's client-certificate proxy the browser learns of it when its throttled send ends.)
    const message = (await page.getByRole('alert').textContent({ timeout: 60_000 }))!;
    assert.match(message, /Upload failed/);
    assert.match(message, /the upload stopped after [\d.]+ (B|KiB|MiB) of 1\.5 MiB: /);
    assert.match(message, /could not be asked to delete the registration/);
    // Back up on the same data: the registration holds no content, and nothing of it can be read.
    await own.restart();
    const files = (await https(`https://127.0.0.1:${own.ports.https}/v1/files`, { ...own.identity('alice'), ca: own.ca })).json().files as string[];
    for (const id of files) {
      const content = await https(`https://127.0.0.1:${own.ports.https}/v1/files/${id}/content`, { ...own.identity('alice'), ca: own.ca });
      assert.equal(content.status, 409, `file ${id} must not be available`);
    }
  } finally {
    await own.cleanup();
  }
});
