import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { builtinTasks } from '../../helpers/builtin-tasks.js';
import { type TestNode, startNode, tempDir } from '../../helpers/cli.js';

// mesapy_from_buffer on MesaTEE's own vectors: tests/integration_test/src/mesapy.rs of v0.1 (48745a92,
// `entrypoint()`) and late MesaTEE (a02ef46367e0, `entrypoint(argv)`), and late MesaTEE's examples/py_file
// and examples/py_matrix_multiply (payloads, data and expected results in ./mesapy_from_buffer/, see the
// README). The bad inputs of issue 18 each fail the task with the reason and leave no result.

const DIR = join(import.meta.dirname, '../../../../test/compat/mesatee/mesapy_from_buffer');
const vector = (name: string) => readFileSync(join(DIR, name), 'utf8');
const b64 = (script: string) => Buffer.from(script).toString('base64');
const TIMEOUT_MS = 4000;

let node: TestNode;
let fnDir: string;
before(async () => {
  fnDir = tempDir();
  node = await startNode({
    users: ['alice'],
    config: (c) => {
      c.log.level = 'warn';
      c.tasks.function_timeout_ms = TIMEOUT_MS;
      c.tasks.python_memory_mib = 64;
      c.fn = { ...(c.fn ?? {}), cache_dir: fnDir };
    },
  });
});
after(() => node.cleanup());
const { upload, download, run } = builtinTasks(() => node);

// codes as the REST API gives them (CCF's; src/errors/index.ts maps Tessera's).
async function failsWithoutResults(script: string, code: string, reason: RegExp) {
  const r = await run('mesapy_from_buffer', { payload: b64(script) });
  assert.notEqual(r.status, 200, r.body);
  assert.equal(r.error?.code, code, r.body);
  assert.match(r.error!.message, reason);
  const view = await r.view();
  assert.equal(view.status, 'Failed');
  assert.deepEqual(view.user_private_result_file_id ?? [], []);
  assert.ok(!view.task_result_file_id, JSON.stringify(view));
  return r;
}

describe('mesapy_from_buffer: MesaTEE\'s vectors', () => {
  test('integration test: v0.1\'s entrypoint() and late MesaTEE\'s entrypoint(argv) printing and returning None give marshal.loads(b"\\x4E")', async () => {
    for (const script of ["\ndef entrypoint():\n    print('Hello Python World!')\n    ", "\ndef entrypoint(argv):\n    print('Hello Python World!')\n    "]) {
      const r = await run('mesapy_from_buffer', { payload: b64(script) });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.result, 'marshal.loads(b"\\x4E")');
    }
  });

  test('examples/py_file: reads its input through the mesatee module, saves for the creator, all participants and the file owner, returns True', async () => {
    const fileId = await upload('alice', readFileSync(join(DIR, 'py_file.1.txt')));
    const r = await run('mesapy_from_buffer', { files: [fileId], payload: b64(vector('py_file.payload.py')) });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.result + '\n', vector('py_file.py_result.txt'));
    const view = await r.view();
    const saved = await Promise.all([...view.user_private_result_file_id, view.task_result_file_id].map((id: string) => download('alice', id).then(String)));
    assert.deepEqual(saved.sort(), ['save_file_for_all_participants', 'save_file_for_file_owner', 'save_file_for_task_creator']);
  });

  test('examples/py_matrix_multiply: the expected marshalled str, byte for byte (the payload ported from _numpypy to plain Python)', async () => {
    // The original multiplies two numpypy 10×10 matrices (x[i][j] = i*j) and returns str(z), which
    // numpypy printed flat; CPython has no _numpypy, so the same product is formatted the same way here.
    const port = [
      'def entrypoint(argv):',
      '    x = [[float(i * j) for j in range(10)] for i in range(10)]',
      '    z = [sum(x[i][k] * x[k][j] for k in range(10)) for i in range(10) for j in range(10)]',
      "    return '[' + ' '.join(repr(v) for v in z) + ']'",
    ].join('\n');
    const r = await run('mesapy_from_buffer', { payload: b64(port) });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.result + '\n', vector('py_matrix_multiply.py_result.txt'));
  });

  test('return values in Python 2 marshal: bool, 32- and 64-bit ints, longs, floats, str, tuple, list, dict', async () => {
    const r = await run('mesapy_from_buffer', { payload: b64("def entrypoint(argv):\n    return [False, -2, 2**40, -2**70, 0.5, 'é', (), {1: None}]\n") });
    assert.equal(r.status, 200, r.body);
    const hex = [...r.result.matchAll(/\\x([0-9A-F]{2})/g)].map((m) => m[1]).join('').toLowerCase();
    const expected = Buffer.concat([
      Buffer.from('5b08000000', 'hex'), Buffer.from('F'), Buffer.from('69feffffff', 'hex'), Buffer.from('490000000000010000', 'hex'),
      Buffer.from('6cfbffffff', 'hex'), Buffer.from('00000000000000000004', 'hex'), // -2**70: 5 digits of 15 bits, the last 2**10
      Buffer.from('67000000000000e03f', 'hex'), Buffer.from('7302000000c3a9', 'hex'), Buffer.from('2800000000', 'hex'),
      Buffer.from('7b6901000000', 'hex'), Buffer.from('N0'),
    ]).toString('hex');
    assert.equal(hex, expected);
  });
});

describe('mesapy_from_buffer: bad input fails the task with the reason and no results', () => {
  test('a payload that is not base64', async () => {
    const r = await run('mesapy_from_buffer', { payload: 'not base64!' });
    assert.equal(r.error?.code, 'InvalidInput', r.body);
    assert.match(r.error!.message, /payload is not standard base64/);
  });

  test('no entrypoint, and code that does not compile', async () => {
    await failsWithoutResults('def main(): pass\n', 'InvalidInput', /defines no function 'entrypoint'/);
    await failsWithoutResults('def entrypoint(:\n', 'InvalidInput', /does not compile: line 1/);
  });

  test('an import outside the allowed set names the module', async () => {
    await failsWithoutResults('import subprocess\ndef entrypoint(argv): return 1\n', 'InternalError', /module 'subprocess' is not in the sandbox's allowed set/);
    await failsWithoutResults('def entrypoint(argv):\n    from os import path\n    return 1\n', 'InternalError', /module 'os' is not in the sandbox's allowed set/);
  });

  test('a network attempt: socket is not importable', async () => {
    await failsWithoutResults("import socket\ndef entrypoint(argv):\n    socket.create_connection(('127.0.0.1', 443))\n", 'InternalError', /module 'socket' is not in the sandbox's allowed set/);
  });

  test('reading a node file: the node\'s data directory is not in the sandbox', async () => {
    const config = join(node.dir, 'tessera.toml');
    assert.ok(existsSync(config));
    await failsWithoutResults(`def entrypoint(argv):\n    return open(${JSON.stringify(config)}).read()\n`, 'InternalError', /FileNotFoundError \(line 2\): \[Errno 2\] No such file or directory/);
  });

  test('allocating past tasks.python_memory_mib', async () => {
    await failsWithoutResults('def entrypoint(argv):\n    hog = []\n    while True:\n        hog.append(bytearray(1 << 20))\n', 'RequestTooLarge', /allocated past its memory limit of 64 MiB \(tasks.python_memory_mib\)/);
  });

  test('a result marshal cannot write', async () => {
    await failsWithoutResults('def entrypoint(argv):\n    return object()\n', 'InvalidInput', /returned a object, which marshal cannot write/);
  });

  test('a loop that never ends: the task fails at tasks.function_timeout_ms, its process is gone, and the node keeps serving', async () => {
    await failsWithoutResults('def entrypoint(argv):\n    while True:\n        pass\n', 'RequestTimeout', new RegExp(`mesapy_from_buffer ran longer than ${TIMEOUT_MS} ms \\(tasks.function_timeout_ms\\)`));
    // Asleep, it uses no CPU, so only the node can end it (RLIMIT_CPU would end a spinning one).
    await failsWithoutResults('import time\ndef entrypoint(argv):\n    time.sleep(3600)\n', 'RequestTimeout', /ran longer than/);
    const ok = await run('mesapy_from_buffer', { payload: b64('def entrypoint():\n    return 7\n') });
    assert.equal(ok.result, 'marshal.loads(b"\\x69\\x07\\x00\\x00\\x00")');
    // The confined processes of the stopped tasks (bwrap, started with this node's python directory) are ended:
    // the pool kills them with the worker thread it ends.
    const marker = join(fnDir, 'python', 'python-empty');
    const live = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    });
    for (let i = 0; i < 50 && live().length; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(live(), []);
  });
});
