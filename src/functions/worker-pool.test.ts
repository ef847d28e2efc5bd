import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { threadId } from 'node:worker_threads';
import { pino } from 'pino';
import { TesseraError } from '../errors/index.js';
import type { FunctionContext } from './registry.js';
import { BuiltinWorkerPool } from './worker-pool.js';

const pool = new BuiltinWorkerPool({ size: 2, logger: pino({ level: 'silent' }) });
after(() => pool.close());

/**
 * Training data that keeps logistic_regression_train busy for many seconds at 1,000,000 iterations (its
 * gradient descent does 1M iterations on 38 lines in about half a second, so tests that stop a run need more).
 */
const LONG_TRAINING = Array.from({ length: 2000 }, (_, i) => `${(i % 10) / 10},${(i % 7) / 7},${i % 2}\n`).join('');

/** A FunctionContext over in-memory files that records what was saved, as TaskService's would. */
function context(opts: { payload?: string | null; files?: Record<string, string | Buffer>; owners?: Record<string, string>; signal?: AbortSignal }) {
  const files = new Map(Object.entries(opts.files ?? {}).map(([id, c]) => [id, Buffer.from(c)]));
  const saved: Array<{ to: string; data: string }> = [];
  const reads: string[] = [];
  let n = 0;
  const save = async (to: string, data: Buffer) => {
    assert.ok(Buffer.isBuffer(data));
    saved.push({ to, data: data.toString() });
    return `out-${n++}`;
  };
  const ctx: FunctionContext = {
    taskId: 'task-1',
    creator: 'alice',
    payload: opts.payload ?? null,
    inputFiles: Object.keys(opts.files ?? {}).map((file_id) => ({ file_id, user_id: opts.owners?.[file_id] ?? 'alice' })),
    collaborators: ['bob'],
    signal: opts.signal ?? new AbortController().signal,
    readFile: async (id) => {
      reads.push(id);
      const content = files.get(id);
      if (!content) throw new TesseraError('permission_denied', `file ${id} does not exist or 'alice' may not read it`);
      // A fresh buffer per read, as decryption gives.
      return Buffer.from(content);
    },
    saveForCreator: (data) => save('creator', data),
    saveForFileOwner: (data, input) => save(`owner of ${input}`, data),
    saveForAllParticipants: (data) => save('all', data),
  };
  return { ctx, saved, reads };
}

describe('the built-in worker pool', () => {
  test('runs a built-in off this thread and returns its result', async () => {
    assert.equal(await pool.run('echo', context({ payload: 'hello ✓' }).ctx), 'hello ✓');
    assert.equal(threadId, 0, 'the test itself is on the main thread');
  });

  test('errors keep their code and message across the thread', async () => {
    await assert.rejects(pool.run('echo', context({ payload: null }).ctx), (err: any) => err instanceof TesseraError && err.code === 'missing_value' && /echo needs a payload/.test(err.message));
    // A refusal from the node (readFile) reaches the built-in and comes back with its code.
    await assert.rejects(pool.run('echo_file', context({ payload: 'nope' }).ctx), (err: any) => err.code === 'permission_denied' && /may not read it/.test(err.message));
  });

  test('reads files and saves results through the node, large ones included', async () => {
    const big = Buffer.alloc(8 << 20, 'x');
    const { ctx, saved } = context({ files: { f1: 'ALICE', f2: big }, owners: { f2: 'bob' } });
    const shared = await pool.run('swap_file', ctx);
    assert.equal(shared, 'out-0');
    assert.deepEqual(saved.map((s) => [s.to, s.data.length]), [['all', 5 + big.length], ['owner of f1', big.length], ['owner of f2', 5]]);
    assert.equal(saved[1].data, big.toString());
  });

  test('a built-in that saves one result for several owners gets each saved whole', async () => {
    // Past half of Buffer.poolSize, so the result is not a slice of Node's small-Buffer pool and is handed over whole.
    const ids = Array.from({ length: Math.ceil(Buffer.poolSize / 10) }, (_, i) => `id${String(i).padStart(5, '0')}`);
    const { ctx, saved } = context({ files: { a: ids.map((id) => `${id}:1\n`).join(''), b: ids.map((id) => `${id}:2\n`).join('') }, owners: { b: 'bob' } });
    assert.equal(await pool.run('private_join_and_compute', ctx), 'Finished');
    const expected = ids.map((id) => `${id} : 3\n`).join('');
    assert.deepEqual(saved, [{ to: 'owner of a', data: expected }, { to: 'owner of b', data: expected }]);
  });

  test('an aborted run ends its worker with the abort reason; the pool goes on with fresh workers', async () => {
    const csv = LONG_TRAINING;
    const controller = new AbortController();
    const { ctx } = context({ files: { data: csv }, payload: JSON.stringify({ alg_alpha: 0.1, alg_iters: 1000000, feature_size: 2 }), signal: controller.signal });
    const running = pool.run('logistic_regression_train', ctx);
    const t0 = performance.now();
    setTimeout(() => controller.abort(new TesseraError('timeout', 'logistic_regression_train ran longer than 300 ms')), 300);
    await assert.rejects(running, (err: any) => err.code === 'timeout' && /ran longer than 300 ms/.test(err.message));
    assert.ok(performance.now() - t0 < 5000, 'stopped at the abort, not when the training ended');
    // Both slots serve again, one of them with the replacement thread.
    const results = await Promise.all([1, 2, 3, 4].map((i) => pool.run('bytes_plus_one', context({ payload: `${i}` }).ctx)));
    assert.deepEqual(results, ['2', '3', '4', '5']);
  });

  test('a task aborted while it waits for a worker never starts', async () => {
    const small = new BuiltinWorkerPool({ size: 1, logger: pino({ level: 'silent' }) });
    try {
      const first = new AbortController();
      const busy = small.run('logistic_regression_train', context({ files: { d: LONG_TRAINING }, payload: JSON.stringify({ alg_alpha: 0.1, alg_iters: 1000000, feature_size: 2 }), signal: first.signal }).ctx);
      const waiting = new AbortController();
      const { ctx, reads } = context({ payload: 'x', signal: waiting.signal });
      const queued = small.run('echo', ctx);
      waiting.abort();
      await assert.rejects(queued, (err: any) => err.code === 'timeout');
      assert.deepEqual(reads, []);
      first.abort();
      await assert.rejects(busy, (err: any) => err.code === 'timeout');
    } finally {
      await small.close();
    }
  });

  test('close fails what is still running or waiting', async () => {
    const small = new BuiltinWorkerPool({ size: 1, logger: pino({ level: 'silent' }) });
    const long = small.run('logistic_regression_train', context({ files: { d: LONG_TRAINING }, payload: JSON.stringify({ alg_alpha: 0.1, alg_iters: 1000000, feature_size: 2 }) }).ctx);
    const queued = small.run('echo', context({ payload: 'x' }).ctx);
    const failed = Promise.all([long, queued].map((p) => assert.rejects(p, (err: any) => err.code === 'unavailable' && /the node is stopping/.test(err.message))));
    await small.close();
    await failed;
    await assert.rejects(small.run('echo', context({ payload: 'x' }).ctx), (err: any) => err.code === 'unavailable');
  });
});

describe('process groups a worker thread starts (Python runs)', () => {
  test('are killed by the node when it ends the thread at a timeout', async () => {
    // A stand-in worker that starts a process group of its own (not tied to the thread) and never answers.
    const dir = mkdtempSync(join(tmpdir(), 'tessera-pool-'));
    const script = join(dir, 'worker.mjs');
    writeFileSync(script, `import { parentPort } from 'node:worker_threads';
import { spawn } from 'node:child_process';
parentPort.on('message', (msg) => {
  if (msg.type !== 'run') return;
  const child = spawn('/bin/sleep', ['1000'], { detached: true, stdio: 'ignore' });
  parentPort.postMessage({ type: 'process', pid: child.pid, running: true });
  parentPort.postMessage({ type: 'call', id: 0, method: 'readFile', fileId: String(child.pid) });
});
parentPort.postMessage({ type: 'ready' });
`);
    const spawning = new BuiltinWorkerPool({ size: 1, logger: pino({ level: 'silent' }), script: pathToFileURL(script) });
    const abort = new AbortController();
    let pid = 0;
    const { ctx } = context({ signal: abort.signal });
    // The stand-in's one call tells the test which process it started.
    ctx.readFile = async (id) => {
      pid = Number(id);
      abort.abort(new TesseraError('timeout', 'stopped'));
      return Buffer.alloc(0);
    };
    await assert.rejects(spawning.run('anything', ctx), /stopped/);
    const alive = () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] !== 'Z';
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(pid > 0);
    assert.equal(alive(), false, `process ${pid} outlived its worker thread`);
    await spawning.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
