// Settings from TESSERA_<SECTION>_<KEY> variables (flags > environment > tessera.toml > defaults), and the
// log format: JSON when stdout is not a terminal, pino-pretty's lines with log.format = "pretty".
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TEST_ENV, type TestNode, startNode, tempDir, tessera, tesseraCommand, useEphemeralPorts } from '../helpers/cli.js';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups) await c();
});

/** `tessera serve` with `env` and `args`: its output once it is ready, or its exit code and output if it stops first. */
function serve(dir: string, env: Record<string, string>, args: string[] = []): Promise<{ ready: boolean; code: number | null; stdout: string; stderr: string; stop: () => Promise<void> }> {
  const proc = spawn(...tesseraCommand(['serve', '--data', dir, ...args]), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...TEST_ENV, ...env } });
  let stdout = '';
  let stderr = '';
  const stop = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  cleanups.push(stop);
  return new Promise((resolve) => {
    proc.stderr!.on('data', (d) => (stderr += d));
    proc.stdout!.on('data', (d) => {
      stdout += d;
      if (stdout.includes('tessera ready')) resolve({ ready: true, code: null, stdout, stderr, stop });
    });
    proc.on('exit', (code) => resolve({ ready: false, code, stdout, stderr, stop }));
  });
}

/** The node's output once it includes `pattern` (the 'node ready' line follows the 'tessera ready' one). */
async function logsWith(node: TestNode, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 400; i++) {
    if (pattern.test(node.logs())) return node.logs();
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`no ${pattern} in:\n${node.logs()}`);
}

async function dataDir() {
  const dir = join(tempDir(), 'data');
  cleanups.push(() => rmSync(join(dir, '..'), { recursive: true, force: true }));
  const init = await tessera(['init', '--data', dir, '--users', 'alice']);
  assert.equal(init.code, 0, init.stderr);
  useEphemeralPorts(dir);
  return dir;
}

test('a bad value in a variable stops the node with one line naming it, no stack trace', async () => {
  const dir = await dataDir();
  const r = await serve(dir, { TESSERA_HTTP_PORT: 'eighty' });
  assert.equal(r.ready, false);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /environment variable TESSERA_HTTP_PORT \(http\.port\) must be an integer, not 'eighty'/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const out = await serve(dir, { TESSERA_HTTP_PORT: '70000' });
  assert.equal(out.ready, false);
  assert.match(out.stderr, /http\.port \(environment variable TESSERA_HTTP_PORT\) must be <= 65535/);
});

test('variables override tessera.toml, flags override variables; a typo is warned about', async () => {
  const dir = await dataDir();
  // tessera.toml says port 0 and kms enabled; the environment turns kms off and names a port the flag overrides.
  const r = await serve(dir, { TESSERA_WIRE_KMS_ENABLED: 'false', TESSERA_HTTP_PORT: '1', TESSERA_LOG_LEVEL: 'info', TESSERA_HTTP_PROT: '9' }, ['--http-port', '0']);
  assert.ok(r.ready, r.stderr + r.stdout);
  const ready = r.stdout.split('\n').find((l) => l.startsWith('tessera ready'))!;
  assert.doesNotMatch(ready, /kms=/, 'TESSERA_WIRE_KMS_ENABLED=false closed the KMS listener');
  assert.match(ready, /https=https:\/\/127\.0\.0\.1:\d+/);
  assert.doesNotMatch(ready, /:1 /, '--http-port won over TESSERA_HTTP_PORT');
  assert.match(r.stdout, /TESSERA_HTTP_PROT names no setting/);
  await r.stop();
});

test('stdout not a terminal: one JSON object per line', async () => {
  let node: TestNode | undefined;
  try {
    node = await startNode({ users: ['alice'] });
    const lines = (await logsWith(node, /node ready/)).split('\n').filter((l) => l.trim() && !l.startsWith('tessera ready') && !/^(measurement|warning|web console)/.test(l));
    assert.ok(lines.length > 0);
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l}`);
    assert.ok(lines.some((l) => JSON.parse(l).msg?.includes('node ready')));
  } finally {
    await node?.cleanup();
  }
});

test('log.format = "pretty" (here from TESSERA_LOG_FORMAT): readable lines, not JSON', async () => {
  let node: TestNode | undefined;
  try {
    node = await startNode({ users: ['alice'], env: { TESSERA_LOG_FORMAT: 'pretty' } });
    const lines = (await logsWith(node, /node ready/)).split('\n').filter((l) => l.includes('node ready'));
    assert.equal(lines.length, 1, node.logs());
    assert.throws(() => JSON.parse(lines[0]));
    assert.match(lines[0], /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: node ready/, 'time, level and message, uncoloured off a terminal');
  } finally {
    await node?.cleanup();
  }
});

test('log.format = "pretty" in tessera.toml works too', async () => {
  let node: TestNode | undefined;
  try {
    node = await startNode({ users: ['alice'], config: (c) => (c.log.format = 'pretty') });
    await logsWith(node, /INFO: node ready/);
    assert.doesNotMatch(node.logs(), /^\{"level"/m);
  } finally {
    await node?.cleanup();
  }
});
