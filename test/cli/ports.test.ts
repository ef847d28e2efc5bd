import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'smol-toml';
import { LISTENERS, portsFromFlags } from '../../src/cli/ports.js';
import { TEST_ENV, tempDir, tesseraCommand, useEphemeralPorts } from '../helpers/cli.js';
import { holdPort, run, STACK } from './run.js';

// `tessera serve --port-base N` and the per-listener flags; a port clash is one line naming the listener
// and what chose its port, with exit code 5.

let dir: string;
before(async () => {
  dir = join(tempDir(), 'data');
  const init = await run(['init', '--data', dir, '--users', 'alice']);
  assert.equal(init.code, 0, init.stderr);
  useEphemeralPorts(dir);
});
after(() => {});

describe('choosing ports', () => {
  test('--port-base puts the listeners at N, N+1, … in the documented order; a listener flag beats it', () => {
    assert.deepEqual(LISTENERS.map((l) => l.name), ['https', 'tms_external', 'tms_internal', 'fns', 'kms', 'tdfs_external', 'tdfs_internal']);
    assert.deepEqual(portsFromFlags({ portBase: 9000 }), { https: 9000, tms_external: 9001, tms_internal: 9002, fns: 9003, kms: 9004, tdfs_external: 9005, tdfs_internal: 9006 });
    assert.deepEqual(portsFromFlags({ portBase: 9000, fnsPort: 0 } as never), { https: 9000, tms_external: 9001, tms_internal: 9002, fns: 0, kms: 9004, tdfs_external: 9005, tdfs_internal: 9006 });
    assert.deepEqual(portsFromFlags({ httpPort: 8443 }), { https: 8443 });
    assert.deepEqual(portsFromFlags({ portBase: 0 }), Object.fromEntries(LISTENERS.map((l) => [l.name, 0])));
  });

  test('serve --help lists every listener flag, the order, and an example', async () => {
    const help = await run(['serve', '--help']);
    for (const l of LISTENERS) assert.match(help.stdout, new RegExp(`--${l.flag} <port>`));
    assert.match(help.stdout, /\+0 {2}--https-port\s+http\.port\s+HTTPS/);
    assert.match(help.stdout, /\$ tessera serve --data \.\/node2 --port-base 9000/);
  });

  test('a --port-base past 65535 is a usage error (exit 2)', async () => {
    const r = await run(['serve', '--data', dir, '--port-base', '65533']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the last listener would be at 65539, past 65535/);
  });

  test('the node listens where --port-base says', async () => {
    // A base whose seven ports are free now (probed, then released); another process may take one in
    // between, which ends serve with exit 5: then another base is tried.
    for (let attempt = 0; attempt < 5; attempt++) {
      const base = 20000 + Math.floor(Math.random() * 40000);
      const held = await Promise.all(LISTENERS.map((_, i) => holdPort(base + i).catch(() => null)));
      await Promise.all(held.map((s) => s && new Promise((r) => s.close(r))));
      if (held.some((s) => s === null)) continue;
      const [file, args] = tesseraCommand(['serve', '--data', dir, '--port-base', String(base)]);
      const proc = spawn(file, args, { env: TEST_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
      const outcome = await new Promise<{ ready?: string; code?: number | null }>((resolve) => {
        let out = '';
        proc.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n').find((l) => l.startsWith('tessera ready'));
          if (line) resolve({ ready: line });
        });
        proc.on('exit', (code) => resolve({ code }));
      });
      if (outcome.code === 5) continue;
      assert.ok(outcome.ready, `serve exited ${outcome.code}`);
      const nodeJson = JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8'));
      LISTENERS.forEach((l, i) => assert.equal(nodeJson.listeners[l.name].port, base + i, l.name));
      assert.match(outcome.ready!, new RegExp(`https=https://127\\.0\\.0\\.1:${base}\\b`));
      const exited = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGTERM');
      await exited;
      return;
    }
    assert.fail('no free range of seven ports found in five tries');
  });
});

describe('a port that is taken', () => {
  test('by a per-listener flag: one line naming the listener and the flag, exit 5', async () => {
    const held = await holdPort();
    const port = (held.address() as { port: number }).port;
    try {
      const r = await run(['serve', '--data', dir, '--https-port', String(port)]);
      assert.equal(r.code, 5, r.stderr);
      assert.equal(r.stderr.trim(), `tessera: the HTTPS (REST, CCF, Fn, workflows) listener cannot use port ${port} (--https-port): address already in use; pass --https-port or --port-base, or stop what holds it`);
      assert.doesNotMatch(r.stderr, STACK);
      const fns = await run(['serve', '--data', dir, '--fns-port', String(port)]);
      assert.equal(fns.code, 5);
      assert.match(fns.stderr, new RegExp(`the FNS \\(function invocation for users\\) listener cannot use port ${port} \\(--fns-port\\): address already in use; pass --fns-port or --port-base`));
      const base = await run(['serve', '--data', dir, '--port-base', String(port)]);
      assert.equal(base.code, 5);
      assert.match(base.stderr, new RegExp(`listener cannot use port ${port} \\(--port-base ${port} \\+0\\)`));
    } finally {
      await new Promise((r) => held.close(r));
    }
  });

  test('by tessera.toml: the message names the setting', async () => {
    const held = await holdPort();
    const port = (held.address() as { port: number }).port;
    const path = join(dir, 'tessera.toml');
    const before = readFileSync(path, 'utf8');
    const config = parse(before) as { wire: { kms: { port: number } } };
    config.wire.kms.port = port;
    writeFileSync(path, stringify(config));
    try {
      const r = await run(['serve', '--data', dir]);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, new RegExp(`^tessera: the KMS \\(key service for services\\) listener cannot use port ${port} \\(wire\\.kms\\.port\\): address already in use; pass --kms-port or --port-base, or stop what holds it\\n$`));
    } finally {
      writeFileSync(path, before);
      await new Promise((r) => held.close(r));
    }
  });
});
