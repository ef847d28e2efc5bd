import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { REPO, type TestNode, startNode } from '../helpers/cli.js';
import { consoleUrl, contextWithCertificate, launchChromium, openView, screenshot, signInMember, signInUser } from '../helpers/browser.js';
import { passProposal } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';

// The views the journey test does not walk through: a workflow started, watched live and stopped; the app's
// endpoints and a request run from the browser; the node's evidence and its verdict; keyboard use; and an
// accessibility audit (axe-core) of every view.

let node: TestNode;
let browser: Browser;
let alice: Page;

const hello = {
  metadata: { endpoints: { '/hello/{name}': { get: { js_module: 'hello.js', js_function: 'hello', forwarding_required: 'never', authn_policies: ['user_cert'], mode: 'readonly', openapi: { summary: 'Greets a caller by name' } } } } },
  modules: [{ name: 'hello.js', module: 'export function hello(request) { return { body: { hello: request.params.name, caller: request.caller.policy } }; }' }],
};

before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'] });
  await passProposal(node, [{ name: 'set_js_app', args: { bundle: hello } }]);
  browser = await launchChromium();
  alice = await signInUser(browser, node, 'alice');
});
after(async () => {
  await browser?.close().catch(() => {});
  await node?.cleanup();
});

test('workflows: started from the form, drawn as a graph, counted live with latencies, stopped', async () => {
  await openView(alice, 'Workflows');
  await alice.getByText('You run no workflows.').waitFor();
  const dir = join(REPO, 'examples', 'workflows', 'ping-pong');
  await alice.getByLabel("Name (optional; letters, digits, '_', '.', '-')").fill('pingpong');
  await alice.getByLabel('Workflow file (EDGELESS JSON)').setInputFiles(join(dir, 'workflow.json'));
  await alice.getByLabel(/Code files its functions name/).setInputFiles([join(dir, 'ping.js'), join(dir, 'pong.js')]);
  await alice.getByRole('button', { name: 'Start workflow', exact: true }).click();
  await alice.getByRole('button', { name: 'Inspect workflow pingpong' }).click();
  const graph = alice.getByRole('img', { name: /^Workflow graph/ });
  await graph.waitFor();
  assert.match((await graph.getAttribute('aria-label'))!, /pinger/);
  assert.match((await graph.getAttribute('aria-label'))!, /ponger/);
  // The pinger wakes every second: after a few polls the rate and the mean handling time are numbers.
  await alice.getByText(/[1-9]\d* events handled · \d+\.\d events\/s/).waitFor({ timeout: 20_000 });
  await alice.getByRole('img', { name: /Mean time to handle an event: latest \d/ }).waitFor();
  // A few more polls, so that the charts in the screenshot have a line to show.
  if (process.env.TESSERA_SCREENSHOTS === '1') await alice.waitForTimeout(8000);
  await screenshot(alice, 'workflows');
  alice.once('dialog', (d) => void d.accept());
  await alice.getByRole('button', { name: 'Stop workflow pingpong' }).click();
  await alice.getByText('You run no workflows.').waitFor({ timeout: 15_000 });
  const listed = await https(`https://127.0.0.1:${node.ports.https}/v1/workflows`, { ...node.identity('alice'), ca: node.ca });
  assert.deepEqual(listed.json().workflows, []);
});

test('apps: endpoints with their policies, the OpenAPI, and a request run with the browser’s certificate', async () => {
  await openView(alice, 'Apps');
  await alice.getByRole('cell', { name: '/app/hello/{name}' }).first().waitFor();
  await alice.getByText('user_cert').first().waitFor();
  await alice.getByText('Greets a caller by name').first().waitFor();
  await alice.getByLabel('Path', { exact: true }).fill('/app/hello/alice');
  await alice.getByRole('button', { name: 'Send', exact: true }).click();
  await alice.getByText('"hello": "alice"').waitFor();
  await alice.getByText('"caller": "user_cert"').waitFor();
  await screenshot(alice, 'apps');
});

test('node: the evidence, a plain verdict on it, and the measurement compared', async () => {
  await openView(alice, 'Node');
  await alice.getByText(/^Software evidence \(Insecure_Virtual\): it proves nothing about hardware/).waitFor();
  const quote = (await https(`https://127.0.0.1:${node.ports.https}/node/attestations/self`, { ca: node.ca })).json();
  const field = alice.getByLabel(/^Expected measurement/);
  await field.fill(quote.measurement.toUpperCase());
  await alice.getByText(/^Match: it equals the Tessera measurement/).waitFor();
  await field.fill('00'.repeat(32));
  await alice.getByText(/^Mismatch: the node reports/).waitFor();
  await field.fill(quote.measurement);
  await alice.getByRole('img', { name: /Open connections/ }).waitFor();
  if (process.env.TESSERA_SCREENSHOTS === '1') await alice.waitForTimeout(6000);
  await screenshot(alice, 'node');
});

test('a 24 MiB file goes up encrypted and comes back decrypted, in slices the browser may keep on disk', async () => {
  const big = Buffer.alloc(24 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i); // distinct 4 KiB blocks, cheap to make
  await openView(alice, 'Files');
  await alice.getByLabel('File to encrypt and upload').setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: big });
  await alice.getByRole('button', { name: 'Encrypt and upload', exact: true }).click();
  const fileId = (await alice.getByText(/^Uploaded big\.bin as /).textContent({ timeout: 120_000 }))!.replace(/^.* as /, '').trim();
  const info = (await https(`https://127.0.0.1:${node.ports.https}/v1/files/${fileId}`, { ...node.identity('alice'), ca: node.ca })).json();
  assert.equal(info.file_size, big.length);
  const row = alice.locator(`tr[data-file-id="${fileId}"]`);
  await row.getByRole('button', { name: /Download and decrypt/ }).click();
  const shown = await row.locator('pre.decrypted').textContent({ timeout: 120_000 });
  assert.ok(shown!.startsWith('00 00 00 00 00 00 00 00'), shown!.slice(0, 40));
});

test('keyboard: skip link, menu and forms reach every view without a mouse', async () => {
  const page = await (await contextWithCertificate(browser, node, 'alice')).newPage();
  await page.goto(consoleUrl(node));
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  // From the top of the page, as someone who has just opened it and starts pressing Tab.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  const focused = (text: string) => page.waitForFunction((t) => document.activeElement?.textContent === t, text, { timeout: 5000 });
  await page.keyboard.press('Tab');
  await focused('Skip to content');
  await page.keyboard.press('Tab'); // the first view in the menu
  await focused('Files');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  // The opened view's heading takes the focus, so a screen reader starts there.
  await page.waitForFunction(() => document.activeElement?.tagName === 'H1' && document.activeElement.textContent === 'Tasks', null, { timeout: 5000 });
  await page.context().close();
});

test('accessibility: axe-core finds no serious or critical violation in any view', async () => {
  const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const m0 = await signInMember(browser, node, 'm0');
  const audit = async (page: Page, view: string) => {
    if (view !== 'Sign in') await openView(page, view);
    await page.waitForTimeout(500);
    // The console's CSP admits only its own scripts, so axe goes in through the DevTools protocol.
    const session = await page.context().newCDPSession(page);
    await session.send('Runtime.evaluate', { expression: axe });
    const { result } = await session.send('Runtime.evaluate', { expression: 'axe.run(document, { resultTypes: ["violations"] }).then((r) => JSON.stringify(r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => ({ id: v.id, nodes: v.nodes.slice(0, 3).map((n) => n.html) }))))', awaitPromise: true, returnByValue: true });
    return { view, violations: JSON.parse(result.value as string) as Array<{ id: string; nodes: string[] }> };
  };
  const results = [];
  for (const view of ['Sign in', 'Files', 'Tasks', 'Apps', 'Workflows', 'Ledger', 'Node']) results.push(await audit(alice, view));
  results.push(await audit(m0, 'Governance'));
  const bad = results.filter((r) => r.violations.length > 0);
  assert.deepEqual(bad, [], JSON.stringify(bad, null, 2));
});
