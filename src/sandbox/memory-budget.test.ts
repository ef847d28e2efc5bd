import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TesseraError } from '../errors/index.js';
import { JsEngine } from './js/engine.js';
import { MemoryBudget } from './memory-budget.js';

test('reservations add up to the budget; one over it waits for a release, or gets 503 naming the setting', async () => {
  const budget = new MemoryBudget(100, 200);
  const a = budget.reserveNow(60, 'a');
  assert.throws(() => budget.reserveNow(50, 'b'), (err: TesseraError) => err.code === 'unavailable' && /needs 50 MiB .*sandbox.memory_budget_mib = 100\) has 40 MiB left/.test(err.message));
  const waiting = budget.reserve(50, 'c');
  setTimeout(a, 50);
  const c = await waiting;
  assert.equal(budget.reserved, 50, 'the waiter got its share when the first one was released');
  await assert.rejects(budget.reserve(60, 'd'), /needs 60 MiB/);
  c();
  c();
  assert.equal(budget.reserved, 0, 'a release counts once');
});

test('a JS run reserves its heap and WebAssembly allowance while it runs', async () => {
  const budget = new MemoryBudget(100, 100);
  const engine = new JsEngine(budget);
  const job = { modules: { '/main.js': 'export function main() { return 1; }' }, entry: '/main.js', exportName: 'main', limits: { heapMiB: 32 } };
  assert.equal(await engine.run(job), 1);
  assert.equal(budget.reserved, 0);
  await assert.rejects(engine.run({ ...job, limits: { heapMiB: 64 } }), (err: TesseraError) => err.code === 'unavailable' && /needs 128 MiB/.test(err.message));
});
