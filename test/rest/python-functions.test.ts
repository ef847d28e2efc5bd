import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { functionHash } from '../../src/functions/user.js';
import { builtinTasks } from '../helpers/builtin-tasks.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';

// Registered task functions of kind "python": registered, hashed and run as js ones are (docs/python.md),
// with `entrypoint(args, io)` reading named inputs and writing named outputs.

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'], config: (c) => (c.log.level = 'warn') });
});
after(() => node.cleanup());
const { id, url, upload, download, run } = builtinTasks(() => node);
const post = (u: string, p: string, json: unknown) => https(url(p), id(u), { method: 'POST', json });
const get = (u: string, p: string) => https(url(p), id(u));

const upper = {
  name: 'upper-py',
  kind: 'python',
  type: 'Single',
  description: 'upper-cases a text file',
  python: "import json\n\ndef entrypoint(args, io):\n    io.output('result', io.input_text('text').upper() + args['suffix'])\n    return json.dumps({'done': args['suffix']})\n",
  interface: { payload: 'json', arguments: [{ name: 'suffix', required: true }], inputs: [{ name: 'text' }], outputs: [{ name: 'result', for: 'creator' }] },
};

async function register(spec: object): Promise<string> {
  const reg = await post('alice', '/v1/functions', spec);
  assert.equal(reg.status, 201, reg.body.toString());
  return reg.json().function_id;
}

describe('kind "python" task functions', () => {
  test('register, run with a named input and output; function_hash covers the Python source', async () => {
    const fid = await register(upper);
    const info = (await get('alice', `/v1/functions/${fid}`)).json();
    assert.equal(info.kind, 'python');
    assert.equal(info.function_hash, functionHash(upper as never));
    const changed = { ...upper, python: upper.python.replace('.upper()', '.lower()') };
    assert.notEqual(functionHash(changed as never), info.function_hash, 'other Python source, another function_hash');
    const changedId = await register(changed);
    assert.notEqual((await get('alice', `/v1/functions/${changedId}`)).json().function_hash, info.function_hash);

    const text = await upload('alice', 'hello');
    const r = await run(fid, { files: [text], payload: JSON.stringify({ suffix: '!' }) });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.result, '{"done": "!"}');
    const view = await r.view();
    assert.equal(view.function_hash, info.function_hash);
    assert.equal((await download('alice', view.user_private_result_file_id[0])).toString(), 'HELLO!');
  });

  test('registration refuses a python function without source, or with js or wasm code beside it', async () => {
    const none = await post('alice', '/v1/functions', { ...upper, python: undefined });
    assert.equal(none.status, 400);
    assert.match(none.json().error.message, /a python function needs its source in python/);
    const mixed = await post('alice', '/v1/functions', { ...upper, modules: { '/main.js': 'export function entrypoint() {}' } });
    assert.equal(mixed.status, 400);
    assert.match(mixed.json().error.message, /carries its source in python only/);
  });

  describe('bad code fails the task with the reason and saves no output', () => {
    const fails = async (python: string, status: number, reason: RegExp, limits?: object) => {
      const fid = await register({ ...upper, name: 'bad', python: `def entrypoint(args, io):\n    io.output('result', 'partial')\n${python}`, ...(limits ? { limits } : {}) });
      const r = await run(fid, { files: [await upload('alice', 'x')], payload: JSON.stringify({ suffix: '!' }) });
      assert.equal(r.status, status, r.body);
      assert.match(r.error!.message, reason);
      const view = await r.view();
      assert.equal(view.status, 'Failed');
      assert.deepEqual(view.user_private_result_file_id ?? [], []);
    };

    test('an import outside the allowed set', () => fails('    import ctypes\n    return "x"\n', 422, /bad: module 'ctypes' is not in the sandbox's allowed set/));
    test('a loop that never ends, at limits.cpuMs', () => fails('    while True:\n        pass\n', 408, /bad ran longer than 1000 ms \(limits.cpuMs\)/, { cpuMs: 1000 }));
    test('allocating past limits.heapMiB', () => fails("    return 'x' * (64 * 1024 * 1024)\n", 413, /allocated past its memory limit of 32 MiB \(limits.heapMiB\)/, { heapMiB: 32 }));
    test('reading a node file', () => fails(`    return open(${JSON.stringify(join(node.dir, 'tessera.toml'))}).read()\n`, 422, /FileNotFoundError \(line 3\): \[Errno 2\] No such file or directory/));
    test('a result that is not a str', () => fails('    return 3\n', 400, /the entrypoint must return a str, not int/));
  });
});
