import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { FunctionRegistry } from '../functions/registry.js';
import { registerBuiltins } from '../functions/builtins/index.js';
import { BuiltinWorkerPool } from '../functions/worker-pool.js';
import { randomBytes } from 'node:crypto';
import { BlobStore } from '../files/blobs.js';
import { FileService } from '../files/service.js';
import { KeyService } from '../kms/service.js';
import { SqliteStore } from '../store/sqlite.js';
import { TaskService } from './service.js';

function setup(functionTimeoutMs = 1000) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-tasks-'));
  const store = new SqliteStore(join(dir, 'store.sqlite'));
  const functions = new FunctionRegistry();
  const workers = new BuiltinWorkerPool({ size: 1, logger: pino({ level: 'silent' }) });
  registerBuiltins(functions, workers);
  functions.register({ name: 'hang', kind: 'builtin', type: 'Single', description: 'never returns', interface: { payload: 'none', arguments: [], inputs: [], outputs: [] }, run: () => new Promise(() => {}) });
  functions.register({ name: 'crash', kind: 'builtin', type: 'Single', description: 'throws', interface: { payload: 'none', arguments: [], inputs: [], outputs: [] }, run: () => { throw new RangeError('kaput'); } });
  const tasks = new TaskService({
    store,
    functions,
    files: new FileService({
      store,
      keys: new KeyService(store, randomBytes(32)),
      blobs: new BlobStore(join(dir, 'blobs')),
      maxFileBytes: 1 << 20,
      maxFunctionInputBytes: 1 << 20,
      accessPath: (id) => `https://127.0.0.1/v1/files/${id}/content`,
      logger: pino({ level: 'silent' }),
    }),
    fnsAddress: () => ({ ip: '127.0.0.1', port: 3444 }),
    tokenKey: randomBytes(32),
    functionTimeoutMs,
    logger: pino({ level: 'silent' }),
  });
  return { tasks, store, done: async () => { await workers.close(); store.close(); rmSync(dir, { recursive: true, force: true }); } };
}

test('a task left Running by a crash is marked Failed, with the reason, at the next start', async () => {
  const { tasks, store, done } = setup();
  try {
    const t = tasks.create({ creator: 'alice', function_name: 'echo', collaborator_list: [], files: [] });
    assert.equal(tasks.updateInternal({ task_id: t.task_id, task_result_file_id: null, output_files: [], status: 'Running' }), true);
    assert.equal(tasks.recoverInterrupted(), 1);
    const after = tasks.getInternal(t.task_id);
    assert.equal(after.status, 'Failed');
    const stored = store.read((tx) => tx.get<{ failure_reason: string }>('tasks.records', t.task_id))!;
    assert.match(stored.failure_reason, /node stopped while this task was running/);
    assert.equal(tasks.recoverInterrupted(), 0);
  } finally {
    await done();
  }
});

test('a function that never returns fails its task at the timeout', async () => {
  const { tasks, done } = setup(100);
  try {
    const t = tasks.create({ creator: 'alice', function_name: 'hang', collaborator_list: [], files: [] });
    await assert.rejects(
      tasks.invoke({ task_id: t.task_id, function_name: 'hang', task_token: t.task_token, payload: null, user: 'alice' }),
      /hang ran longer than 100 ms/,
    );
    assert.equal(tasks.getInternal(t.task_id).status, 'Failed');
  } finally {
    await done();
  }
});

test('an unexpected exception in a function fails the task and says which function', async () => {
  const { tasks, done } = setup();
  try {
    const t = tasks.create({ creator: 'alice', function_name: 'crash', collaborator_list: [], files: [] });
    await assert.rejects(
      tasks.invoke({ task_id: t.task_id, function_name: 'crash', task_token: t.task_token, payload: null, user: 'alice' }),
      (err: any) => err.code === 'function_failed' && /crash failed: kaput/.test(err.message),
    );
    assert.equal(tasks.getInternal(t.task_id).status, 'Failed');
  } finally {
    await done();
  }
});

test('task ids are UUIDv4 and task tokens 32 lowercase hex', async () => {
  const { tasks, done } = setup();
  try {
    const t = tasks.create({ creator: 'alice', function_name: 'echo', collaborator_list: [], files: [] });
    assert.match(t.task_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(t.task_token, /^[0-9a-f]{32}$/);
  } finally {
    await done();
  }
});
