import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliResult, REPO, TEST_ENV, tesseraCommand } from '../helpers/cli.js';

// The `tessera` CLI with an environment of the test's choosing (the TESSERA_* variables under test), and
// every test file its own contexts folder.

export function run(args: string[], env: Record<string, string | undefined> = {}, cwd = REPO): Promise<CliResult> {
  const merged: Record<string, string | undefined> = { ...TEST_ENV, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  return new Promise((resolve) => {
    execFile(...tesseraCommand(args), { cwd, env: merged as NodeJS.ProcessEnv }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** No TESSERA_* connection variable from the test runner's own environment leaks into a case. */
export const CLEAN = { TESSERA_URL: undefined, TESSERA_CA: undefined, TESSERA_IDENTITY: undefined, TESSERA_DATA: undefined, TESSERA_INSECURE: undefined, TESSERA_ENCLAVE_INFO: undefined, TESSERA_AUDITORS: undefined, TESSERA_CONTEXT: undefined, TESSERA_DEBUG: undefined };

export const configDir = () => mkdtempSync(join(tmpdir(), 'tessera-cfg-'));

/** A stack trace line, which no user mistake may print. */
export const STACK = /\n\s+at .+[(:]\d+/;

/** A port that nothing listens on: bound to get a free one, then closed. */
export async function closedPort(): Promise<number> {
  const s = await holdPort();
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A listening server on a port the system picks (or `port`), to make a clash. */
export function holdPort(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
