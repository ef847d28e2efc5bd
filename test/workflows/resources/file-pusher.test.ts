// file-pusher (EDGELESS edgeless_node/src/resources/file_pusher.rs): EDGELESS's examples/file_pusher/workflow.json
// (here examples/workflows/file-pusher/, with a small period): the operator's directory's files, sorted,
// cast round-robin to a file-log; non-UTF-8 is ""; encode-base64; the directory is read when the resource
// starts; no files casts ""; the timer ends with the workflow.
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadWorkflowFile } from '../../../src/cli/commands/workflow.js';
import { REPO, type TestNode, startNode, tempDir } from '../../helpers/cli.js';
import { workflowClient } from '../../helpers/workflows.js';

let dir: string;
let node: TestNode;
let alice: ReturnType<typeof workflowClient>;

before(async () => {
  dir = tempDir('tessera-pusher-');
  writeFileSync(join(dir, 'b.bin'), Buffer.from([0xff, 0xfe, 0x00]));
  writeFileSync(join(dir, 'a.txt'), 'first');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'inner.txt'), 'not pushed: in a subfolder');
  node = await startNode({ users: ['alice'], config: (c) => (c.workflows = { resources: { file_pusher: { directory: dir } } }) });
  alice = workflowClient(node, 'alice');
});
after(async () => {
  await node?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** The example as written, with `configurations` changed (its period is EDGELESS's 1000 ms). */
function example(configurations: Record<string, string>) {
  const spec = loadWorkflowFile(join(REPO, 'examples', 'workflows', 'file-pusher', 'workflow.json')) as { resources: Array<{ configurations: Record<string, string> }> };
  assert.deepEqual(spec.resources[0]!.configurations, { 'period-ms': '1000', 'encode-base64': 'false' });
  Object.assign(spec.resources[0]!.configurations, configurations);
  return spec;
}

/** The file-log's lines once there are at least `n` (the file holds one line per push). */
async function lines(workflow: string, n: number): Promise<string[]> {
  for (let i = 0; i < 600; i++) {
    const r = await alice.file(workflow, 'my-local-file.log');
    const content = r.status === 200 ? (r.json().content as string) : '';
    const got = content.split('\n').slice(0, -1);
    if (got.length >= n) return got;
    await new Promise((res) => setTimeout(res, 25));
  }
  assert.fail(`${workflow}: fewer than ${n} lines`);
}

describe('file-pusher', () => {
  test('casts the files, sorted by path, round-robin; non-UTF-8 is ""; files added before the start count; the timer ends with the workflow', async () => {
    // added after the node started: the directory is read when the resource starts
    writeFileSync(join(dir, 'c.txt'), 'third\nline');
    const r = await alice.start(example({ 'period-ms': '20' }), 'pusher');
    assert.equal(r.status, 201, r.body.toString());
    // added after the workflow started: not pushed (the files are held from the start)
    writeFileSync(join(dir, 'd.txt'), 'too late');
    const got = await lines('pusher', 8);
    // c.txt's newline makes two lines of the file-log, as EDGELESS writes a message verbatim
    assert.deepEqual(got.slice(0, 8), ['first', '', 'third', 'line', 'first', '', 'third', 'line']);
    assert.equal((await alice.stop(r.json().workflow_id)).status, 200);
    const after = (await alice.file('pusher', 'my-local-file.log')).json().content as string;
    // many periods later the file has not grown: the timer stopped with the workflow
    await new Promise((res) => setTimeout(res, 400));
    assert.equal((await alice.file('pusher', 'my-local-file.log')).json().content, after);
  });

  test('encode-base64 casts each file as base64', async () => {
    const r = await alice.start(example({ 'period-ms': '20', 'encode-base64': 'True' }), 'pusher64');
    assert.equal(r.status, 201, r.body.toString());
    const got = await lines('pusher64', 4);
    assert.deepEqual(got.slice(0, 4), ['Zmlyc3Q=', '//4A', 'dGhpcmQKbGluZQ==', 'dG9vIGxhdGU=']);
    await alice.stop(r.json().workflow_id);
  });

  test('with no files it casts ""', async () => {
    for (const f of ['a.txt', 'b.bin', 'c.txt', 'd.txt']) rmSync(join(dir, f));
    const r = await alice.start(example({ 'period-ms': '20' }), 'empty');
    assert.equal(r.status, 201, r.body.toString());
    assert.deepEqual((await lines('empty', 3)).slice(0, 3), ['', '', '']);
    await alice.stop(r.json().workflow_id);
  });

  test('a directory it cannot read is refused at start, naming the resource and the setting', async () => {
    const saved = join(tempDir('tessera-pusher-moved-'), 'moved');
    renameSync(dir, saved);
    try {
      const r = await alice.start(example({}), 'gone');
      assert.equal(r.status, 400, r.body.toString());
      assert.match(r.json().error.message, /resource 'my-file-pusher' \(file-pusher\): cannot read the node's workflows\.resources\.file_pusher\.directory: ENOENT/);
      assert.deepEqual((await alice.list()).json().workflows.filter((w: { name: string }) => w.name === 'gone'), []);
    } finally {
      renameSync(saved, dir);
    }
  });
});
