import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';

// Issue 14: logistic_regression_train with 300,000 iterations on a 608-byte file froze every user for
// seconds, because built-ins ran on the node's event loop. They now run in worker threads that are ended
// at the task's timeout, so the node keeps answering while one runs and the call fails alone.

const TIMEOUT_MS = 2000;
/** Generous: a GET on a free event loop takes milliseconds; a blocked one took seconds. */
const ANSWER_BOUND_MS = 1000;

let node: TestNode;
before(async () => {
  node = await startNode({
    users: ['alice', 'bob'],
    config: (c) => {
      c.log.level = 'warn';
      c.tasks.function_timeout_ms = TIMEOUT_MS;
    },
  });
});
after(() => node.cleanup());

const id = (user: string) => ({ ...node.identity(user), ca: node.ca });
const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;

async function upload(user: string, plain: Buffer): Promise<string> {
  const c = await https(url('/v1/files'), id(user), { method: 'POST', json: { file_name: 'in', sha256: sha256(plain), file_size: plain.length } });
  const { file_id, access_path, key_config } = c.json();
  const put = await https(access_path, id(user), { method: 'PUT', body: encryptForUpload(key_config, plain), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 200, put.body.toString());
  return file_id;
}

async function createTask(user: string, fn: string, files: string[]) {
  const c = await https(url('/v1/tasks'), id(user), { method: 'POST', json: { function_name: fn, files, collaborator_list: [] } });
  assert.equal(c.status, 201, c.body.toString());
  return c.json() as { task_id: string; task_token: string };
}

const invoke = (user: string, task: { task_id: string; task_token: string }, payload: string | null) =>
  https(url(`/v1/tasks/${task.task_id}/invoke`), id(user), { method: 'POST', json: { task_token: task.task_token, payload } });

/** Lines of "x,y,label", 16 bytes each; 38 of them are the 608-byte training file of the report. */
function trainingCsv(lines: number): Buffer {
  let rows = '';
  for (let i = 0; i < lines; i++) {
    const x = ((i * 37) % 100) / 100;
    const y = ((i * 59) % 100) / 100;
    rows += `${x.toFixed(4)},${y.toFixed(4)},${x + y > 1 ? 1 : 0}\n`;
  }
  return Buffer.from(rows);
}

describe('built-ins run in worker threads', () => {
  test('a built-in past the task timeout fails alone while other users are answered, and the pool still runs tasks', async (t) => {
    // Issue 18's gradient descent trains the report's 608-byte file for 300,000 iterations in well
    // under the timeout, so this run has 100 times the lines and the most iterations allowed.
    const csv = trainingCsv(3800);
    assert.equal(csv.length, 60800);
    const file = await upload('alice', csv);
    const task = await createTask('alice', 'logistic_regression_train', [file]);
    // bob's token check (scrypt) is cached after its first success; do it before the clock matters.
    assert.equal((await https(url('/v1/functions'), id('bob'))).status, 200);

    const started = performance.now();
    let settled = false;
    const running = invoke('alice', task, JSON.stringify({ alg_alpha: 0.1, alg_iters: 1000000, feature_size: 2 })).finally(() => (settled = true));
    const answers: Array<{ path: string; status: number; ms: number }> = [];
    while (!settled) {
      for (const path of ['/v1/functions', '/v1/health']) {
        const t0 = performance.now();
        const r = await https(url(path), id('bob'));
        answers.push({ path, status: r.status, ms: performance.now() - t0 });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const reply = await running;
    const elapsed = performance.now() - started;

    assert.equal(reply.status, 408, reply.body.toString());
    assert.equal(reply.json().error.code, 'RequestTimeout');
    assert.match(reply.json().error.message, new RegExp(`logistic_regression_train ran longer than ${TIMEOUT_MS} ms \\(tasks.function_timeout_ms\\)`));
    assert.ok(elapsed < TIMEOUT_MS + 3000, `the task failed ${Math.round(elapsed)} ms after its invoke; the timeout is ${TIMEOUT_MS} ms`);
    const view = (await https(url(`/v1/tasks/${task.task_id}`), id('alice'))).json();
    assert.equal(view.status, 'Failed');
    assert.deepEqual(view.user_private_result_file_id, [], 'a stopped run leaves no output');

    t.diagnostic(`task failed after ${Math.round(elapsed)} ms; bob got ${answers.length} answers meanwhile, the slowest in ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms`);
    assert.ok(answers.length >= 4, `bob got ${answers.length} answers while the task ran`);
    for (const a of answers) {
      assert.equal(a.status, 200, `${a.path}: ${a.status}`);
      assert.ok(a.ms < ANSWER_BOUND_MS, `${a.path} took ${Math.round(a.ms)} ms while the built-in ran: ${answers.map((x) => Math.round(x.ms)).join(', ')}`);
    }

    // The worker that ran past the timeout was ended and replaced; the pool still runs tasks, for anyone.
    for (const user of ['alice', 'bob']) {
      const echo = await invoke(user, await createTask(user, 'echo', []), `still here, ${user}`);
      assert.equal(echo.status, 200, echo.body.toString());
      assert.equal(echo.json().result, `still here, ${user}`);
    }
  });

  test('several built-ins at once, more than the pool has workers, all get their answers', async () => {
    const tasks = await Promise.all(Array.from({ length: 12 }, () => createTask('bob', 'bytes_plus_one', [])));
    const replies = await Promise.all(tasks.map((t, i) => invoke('bob', t, `abc${i}`)));
    replies.forEach((r, i) => {
      assert.equal(r.status, 200, r.body.toString());
      assert.equal(r.json().result, Buffer.from(`abc${i}`).map((b) => b + 1).toString());
    });
  });
});
