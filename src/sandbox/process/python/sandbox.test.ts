import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PythonSandbox } from './sandbox.js';

// The allowed set of modules is an interface, not the boundary: a payload can reach `os` through an
// allowed module (random imports it). These runs widen the set on purpose to show that the confined
// process itself keeps the node's network and files out of reach.

const dir = mkdtempSync(join(tmpdir(), 'tessera-python-test-'));
// Traversable by the uid the process runs as, as the node's fn directory is.
chmodSync(dir, 0o711);
const sandbox = new PythonSandbox({ confinement: 'bubblewrap', uid: 65534, gid: 65534, runDir: join(dir, 'run'), memoryMib: 64, timeoutMs: 10_000, maxMessageBytes: 1 << 20 });
const run = (code: string, allowedModules?: string[]) =>
  sandbox.run({ mode: 'function', code, export: 'entrypoint', args: null, inputs: new Map(), outputs: [] }, { fn: 'probe', allowedModules }) as Promise<{ result: string }>;

let server: ReturnType<typeof createServer>;
let port = 0;
before(async () => {
  server = createServer((s) => s.end('node'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
after(() => server.close());

describe('the Python process confines what the import guard does not', () => {
  test('the node\'s own port on 127.0.0.1 is unreachable, even with socket allowed', async () => {
    await assert.rejects(
      run(`import socket\ndef entrypoint(args, io):\n    socket.create_connection(('127.0.0.1', ${port}), timeout=5)\n    return 'reached'\n`, ['socket']),
      // Its own network namespace: a loopback of its own, where nothing listens.
      /ConnectionRefusedError \(line 3\): \[Errno 111\] Connection refused/,
    );
  });

  test('a host file is not there, even through os reached from an allowed module', async () => {
    const secret = join(dir, 'secret.key');
    writeFileSync(secret, 'node secret');
    await assert.rejects(run(`import random\ndef entrypoint(args, io):\n    return random._os.open(${JSON.stringify(secret)}, 0)\n`), /FileNotFoundError \(line 3\)/);
    const root = await run("import random\ndef entrypoint(args, io):\n    return ' '.join(sorted(random._os.listdir('/')))\n");
    assert.doesNotMatch(root.result, /\b(root|home|work|var|srv)\b/, `the sandbox's / holds ${root.result}`);
  });

  test('new processes cannot be started', async () => {
    await assert.rejects(run("import random\ndef entrypoint(args, io):\n    return str(random._os.fork())\n"), /(BlockingIOError|PermissionError|OSError)/);
  });
});
