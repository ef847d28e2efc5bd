import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO, type TestNode, startNode } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';

// examples/functions/word-count: a JS task function (main.js) and its descriptor (function.json: the
// registration's name, type, description, entry, interface and limits; the code file decides the kind),
// registered and run as a task over an uploaded file. `tessera function register main.js --descriptor
// function.json` sends the same body; this test builds it by hand over REST so the example is checked
// whichever way it is registered.

const DIR = join(REPO, 'examples', 'functions', 'word-count');

/** POST /v1/functions' body: the descriptor, with main.js as the module /main.js. */
function registration() {
  const descriptor = JSON.parse(readFileSync(join(DIR, 'function.json'), 'utf8'));
  return { ...descriptor, kind: 'js', modules: { '/main.js': readFileSync(join(DIR, 'main.js'), 'utf8') } };
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
  const reg = await post('/v1/functions', registration());
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
