import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { type TestNode, startNode, tempDir } from '../helpers/cli.js';
import { bytesSent, launchChromium, openView, screenshot, signInMember, signInUser } from '../helpers/browser.js';
import { encryptForUpload, letterRecords } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';

// Issue 21's journey, in Debian's Chromium: alice uploads with the browser's encryption and creates a PSI
// task naming bob; bob approves with his file in a second browser context; alice invokes; both read their
// results; a member proposes and two members vote to deploy an app; a receipt verifies in the browser.
// Chromium's NetLog then shows that no byte it sent carried plaintext of any file.

let node: TestNode;
let browser: Browser;
const netLog = join(tempDir('tessera-netlog-'), 'net.json');
const secret = randomBytes(300 * 1024); // a file whose plaintext must never leave the browser
const aliceRecords = letterRecords('abde');
const bobRecords = letterRecords('bcd');

before(async () => {
  node = await startNode({ users: ['alice', 'bob'], members: ['m0', 'm1', 'm2'] });
  browser = await launchChromium(netLog);
});
after(async () => {
  await browser?.close().catch(() => {});
  await node?.cleanup();
});

async function upload(page: Page, name: string, buffer: Buffer) {
  await openView(page, 'Files');
  await page.getByLabel('File to encrypt and upload').setInputFiles({ name, mimeType: 'application/octet-stream', buffer });
  await page.getByRole('button', { name: 'Encrypt and upload', exact: true }).click();
  const done = await page.getByText(`Uploaded ${name} as `).textContent({ timeout: 30_000 });
  return done!.replace(/^.* as /, '').trim();
}

const resultBytes = async (page: Page, taskId: string) => {
  const card = page.locator(`article[data-task-id="${taskId}"]`);
  await card.getByRole('button', { name: /Read result/ }).click();
  return (await card.locator('pre.result').getAttribute('data-bytes', { timeout: 30_000 }))!.split(',').map(Number);
};

test('alice and bob run PSI, members deploy an app, and a receipt verifies, all in the browser', async () => {
  const alice = await signInUser(browser, node, 'alice');
  await screenshot(alice, 'sign-in');
  const aliceFile = await upload(alice, 'alice.bin', aliceRecords);
  const secretFile = await upload(alice, 'secret.bin', secret);
  await alice.locator(`tr[data-file-id="${secretFile}"]`).getByRole('button', { name: /Download and decrypt/ }).click();
  await alice.locator(`tr[data-file-id="${secretFile}"] pre.decrypted`).waitFor();
  await screenshot(alice, 'files');

  // The node holds what the browser uploaded: alice's plaintext, as the CLI would read it back.
  const info = await https(`https://127.0.0.1:${node.ports.https}/v1/files/${aliceFile}`, { ...node.identity('alice'), ca: node.ca });
  assert.equal(info.json().file_size, aliceRecords.length);

  await openView(alice, 'Tasks');
  await alice.getByLabel('Function').selectOption('psi');
  await alice.getByLabel('Collaborators (user names, comma-separated)').fill('bob');
  await alice.getByRole('checkbox', { name: /alice\.bin/ }).check();
  await alice.getByRole('button', { name: 'Create task' }).click();
  const created = await alice.getByText(/^Created task /).textContent();
  const taskId = /Created task (\S+)/.exec(created!)![1];
  const aliceCard = alice.locator(`article[data-task-id="${taskId}"]`);
  await aliceCard.locator('.task-status', { hasText: 'Created' }).waitFor();

  const bob = await signInUser(browser, node, 'bob');
  await upload(bob, 'bob.bin', bobRecords);
  await openView(bob, 'Tasks');
  const bobCard = bob.locator(`article[data-task-id="${taskId}"]`);
  await bobCard.getByRole('checkbox', { name: /bob\.bin/ }).check();
  await bobCard.getByRole('button', { name: 'Approve', exact: true }).click();
  await bobCard.locator('.task-status', { hasText: 'Ready' }).waitFor();

  // alice's open view turns Ready by itself (the view polls), shows bob's approval, and she invokes.
  await aliceCard.locator('.task-status', { hasText: 'Ready' }).waitFor({ timeout: 15_000 });
  assert.match(await aliceCard.locator('.approvals').textContent() ?? '', /bob: approved/);
  await aliceCard.getByRole('button', { name: 'Invoke', exact: true }).click();
  await aliceCard.locator('.task-status', { hasText: 'Finished' }).waitFor({ timeout: 30_000 });
  assert.deepEqual(await resultBytes(alice, taskId), [0, 1, 1, 0]);
  await screenshot(alice, 'tasks');
  await bobCard.locator('.task-status', { hasText: 'Finished' }).waitFor({ timeout: 15_000 });
  assert.deepEqual(await resultBytes(bob, taskId), [1, 0, 1]);

  // Governance: m0 proposes an app from its bundle file, m0 and m1 vote for it in their own browsers.
  const bundle = {
    metadata: { endpoints: { '/hello': { get: { js_module: 'hello.js', js_function: 'hello', forwarding_required: 'never', authn_policies: ['no_auth'], mode: 'readonly' } } } },
    modules: [{ name: 'hello.js', module: "export function hello() { return { body: { hello: 'from the console' } }; }" }],
  };
  const m0 = await signInMember(browser, node, 'm0');
  await openView(m0, 'Governance');
  await m0.getByLabel('Deploy an app: choose its bundle (bundle.json)').setInputFiles({ name: 'bundle.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(bundle)) });
  await m0.getByRole('cell', { name: '/hello' }).first().waitFor();
  await m0.getByText('hello.js: new module').waitFor();
  await m0.getByRole('button', { name: 'Sign and propose' }).click();
  const proposed = await m0.getByText(/^Proposal [0-9a-f]+ is Open\./).textContent();
  const proposalId = /Proposal ([0-9a-f]+)/.exec(proposed!)![1];
  const m0Card = m0.locator(`article[data-proposal-id="${proposalId}"]`);
  await m0Card.getByRole('button', { name: `Vote for proposal ${proposalId}` }).click();
  await m0Card.getByText('Your ballot was recorded; the proposal is Open.').waitFor();
  await screenshot(m0, 'governance');

  const m1 = await signInMember(browser, node, 'm1');
  await openView(m1, 'Governance');
  await m1.locator(`article[data-proposal-id="${proposalId}"]`).getByRole('button', { name: `Vote for proposal ${proposalId}` }).click();
  await m1.locator(`article[data-proposal-id="${proposalId}"]`).getByText('Your ballot was recorded; the proposal is Accepted.').waitFor();
  const app = await https(`https://127.0.0.1:${node.ports.https}/app/hello`, { ca: node.ca });
  assert.deepEqual(app.json(), { hello: 'from the console' });

  // A receipt for the latest transaction, verified in the browser.
  await openView(m1, 'Ledger');
  await m1.getByRole('button', { name: /^Choose transaction / }).first().click();
  await m1.getByRole('button', { name: 'Fetch and verify the receipt' }).click();
  await m1.getByText(/^Receipt for \d+\.\d+ verifies$/).waitFor({ timeout: 15_000 });
  await screenshot(m1, 'ledger');

  // Nothing Chromium sent, on any connection, before TLS, carried plaintext of a file.
  await browser.close();
  const sent = Buffer.concat(bytesSent(netLog));
  // The control: the ciphertext the browser uploaded is there, so the log did capture request bodies.
  const keyConfig = (await https(`https://127.0.0.1:${node.ports.https}/v1/files/${secretFile}`, { ...node.identity('alice'), ca: node.ca })).json().key_config;
  const ciphertext = encryptForUpload(keyConfig, secret);
  assert.notEqual(sent.indexOf(ciphertext.subarray(100_000, 100_064)), -1, 'the NetLog does not hold the uploaded ciphertext: it cannot show what was sent');
  for (let at = 0; at + 64 <= secret.length; at += 4096) {
    assert.equal(sent.indexOf(secret.subarray(at, at + 64)), -1, `plaintext of secret.bin (bytes ${at}..${at + 64}) left the browser`);
  }
  for (const records of [aliceRecords, bobRecords]) {
    for (let at = 0; at < records.length; at += 32) assert.equal(sent.indexOf(records.subarray(at, at + 32)), -1, 'a PSI record left the browser in plaintext');
  }
});
