import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO, type TestNode, startNode } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';

// examples/functions/word-count: a JS task function, registered from its descriptor, run as a task over an
// uploaded file. The descriptor (function.json) is POST /v1/functions' body, but its "modules" name files
// beside it (module path → file): registering reads them in. `tessera function register FILE` does that;
// this test does it by hand over REST so the example is checked whichever way it is registered.

const DESCRIPTOR = join(REPO, 'examples', 'functions', 'word-count', 'function.json');

/** POST /v1/functions' body from a descriptor: each module's file read, relative to the descriptor. */
function registration(path: string) {
  const spec = JSON.parse(readFileSync(path, 'utf8'));
  spec.modules = Object.fromEntries(Object.entries(spec.modules as Record<string, string>).map(([name, file]) => [name, readFileSync(join(dirname(path), file), 'utf8')]));
  return spec;
}

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'] });
});
after(() => node.cleanup());

const alice = () => ({ ...node.identity('alice'), ca: node.ca });
const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
const post = (p: string, json: unknown) => https(url(p), alice(), { method: 'POST', json });

test('examples/functions/word-count registers and counts the words of an uploaded file', async () => {
  const reg = await post('/v1/functions', registration(DESCRIPTOR));
  assert.equal(reg.status, 201, reg.body.toString());
  const { function_id } = reg.json();

  const text = Buffer.from('the cat and the dog and the bird');
  const file = (await post('/v1/files', { file_name: 'text.txt', sha256: sha256(text), file_size: text.length })).json();
  assert.equal((await https(file.access_path, alice(), { method: 'PUT', body: encryptForUpload(file.key_config, text), headers: { 'content-type': 'application/octet-stream' } })).status, 200);

  const task = (await post('/v1/tasks', { function_name: function_id, files: [file.file_id] })).json();
  const run = await post(`/v1/tasks/${task.task_id}/invoke`, { task_token: task.task_token, payload: JSON.stringify({ top: 2 }) });
  assert.equal(run.status, 200, run.body.toString());
  assert.equal(run.json().result, '8 words, 5 distinct');

  const out = (await https(url(`/v1/tasks/${task.task_id}`), alice())).json().user_private_result_file_id[0];
  const info = (await https(url(`/v1/files/${out}`), alice())).json();
  assert.equal(decryptDownload(info.key_config, (await https(info.access_path, alice())).body).toString(), 'the 3\nand 2\n');
});
