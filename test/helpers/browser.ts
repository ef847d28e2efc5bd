import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { REPO, type TestNode, tempDir } from './cli.js';

// Browser tests drive Debian's Chromium (never a test tool's own download) through the console as its users
// do: a user's TLS certificate installed in the browser context, the token typed into the sign-in form; a
// member's key pasted into the member form and imported into WebCrypto.

export const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Chromium with a NetLog of every byte it sends, before TLS (capture mode Everything): what the console
 * sent can be searched afterwards, independently of the page's own code and of the DevTools protocol.
 */
export async function launchChromium(netLog?: string): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: netLog ? [`--log-net-log=${netLog}`, '--net-log-capture-mode=Everything'] : [] });
}

export const consoleUrl = (node: TestNode, route = 'signin') => `https://127.0.0.1:${node.ports.https}/console/#/${route}`;

/**
 * A browser context holding `name`'s TLS client certificate for this node's origin. The node's CA is not in
 * the browser's trust store, hence ignoreHTTPSErrors; the node still checks the client certificate.
 */
export async function contextWithCertificate(browser: Browser, node: TestNode, name: string): Promise<BrowserContext> {
  const dir = tempDir('tessera-browser-id-');
  const base = join(identitiesDirOf(node.dir), name);
  writeFileSync(join(dir, 'cert.pem'), readFileSync(join(base, 'cert.pem')));
  writeFileSync(join(dir, 'key.pem'), readFileSync(join(base, 'key.pem')), { mode: 0o600 });
  return browser.newContext({
    ignoreHTTPSErrors: true,
    clientCertificates: [{ origin: `https://127.0.0.1:${node.ports.https}`, certPath: join(dir, 'cert.pem'), keyPath: join(dir, 'key.pem') }],
    viewport: { width: 1280, height: 900 },
  });
}

/** Opens the console in a context with `user`'s certificate and signs in with the user's token. */
export async function signInUser(browser: Browser, node: TestNode, user: string): Promise<Page> {
  const page = await (await contextWithCertificate(browser, node, user)).newPage();
  await page.goto(consoleUrl(node));
  await page.getByLabel('Bearer token').fill(node.identity(user).token);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByText(`Signed in as user ${user}`).waitFor();
  return page;
}

/** Opens the console with no certificate and imports `member`'s key and certificate into WebCrypto. */
export async function signInMember(browser: Browser, node: TestNode, member: string): Promise<Page> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(consoleUrl(node));
  const base = join(identitiesDirOf(node.dir), member);
  await page.getByLabel('…or paste it').first().fill(readFileSync(join(base, 'key.pem'), 'utf8'));
  await page.getByLabel('…or paste it').nth(1).fill(readFileSync(join(base, 'cert.pem'), 'utf8'));
  await page.getByRole('button', { name: 'Import the member key' }).click();
  await page.getByText('This browser holds the signing key of member').waitFor();
  return page;
}

/** Goes to a view by its menu link, as a user would. */
export async function openView(page: Page, title: string) {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: title }).click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
}

/** With TESSERA_SCREENSHOTS=1, a full-page screenshot into docs/console/ (the README links them). */
export async function screenshot(page: Page, name: string) {
  if (process.env.TESSERA_SCREENSHOTS !== '1') return;
  const dir = join(REPO, 'docs', 'console');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** Every byte Chromium sent on any socket, from its NetLog (SOCKET_BYTES_SENT / SSL_SOCKET_BYTES_SENT, before encryption). */
export function bytesSent(netLog: string): Buffer[] {
  const log = JSON.parse(readFileSync(netLog, 'utf8').replace(/,\s*$/, '') + (readFileSync(netLog, 'utf8').trimEnd().endsWith('}') ? '' : ']}')) as { constants: { logEventTypes: Record<string, number> }; events: Array<{ type: number; params?: { bytes?: string } }> };
  const wanted = new Set([log.constants.logEventTypes.SOCKET_BYTES_SENT, log.constants.logEventTypes.SSL_SOCKET_BYTES_SENT]);
  return log.events.filter((e) => wanted.has(e.type) && e.params?.bytes).map((e) => Buffer.from(e.params!.bytes!, 'base64'));
}
