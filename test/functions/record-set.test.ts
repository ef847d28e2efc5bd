import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { intersectRecords, RECORD, sortedOrder } from '../../src/functions/builtins/record-set.js';

const split = (data: Buffer) => Array.from({ length: data.length / RECORD }, (_, i) => data.subarray(i * RECORD, (i + 1) * RECORD));
const naive = (a: Buffer, b: Buffer) => {
  const inSet = (set: Buffer[], r: Buffer) => set.some((x) => x.equals(r));
  const ra = split(a);
  const rb = split(b);
  return { inB: Uint8Array.from(ra.map((r) => (inSet(rb, r) ? 1 : 0))), inA: Uint8Array.from(rb.map((r) => (inSet(ra, r) ? 1 : 0))) };
};

/** Records that share their first 4 bytes, repeat, and overlap, which is where the radix sort needs its tie-break. */
function awkwardRecords(n: number, pool: Buffer[]): Buffer {
  return Buffer.concat(Array.from({ length: n }, () => pool[Math.floor(Math.random() * pool.length)]));
}

describe('PSI record sets', () => {
  test('sortedOrder puts records in bytewise order, ties on the first 4 bytes included', () => {
    const prefix = randomBytes(4);
    const pool = Array.from({ length: 50 }, (_, i) => (i % 2 ? Buffer.concat([prefix, randomBytes(RECORD - 4)]) : randomBytes(RECORD)));
    const data = awkwardRecords(400, pool);
    const order = sortedOrder(data);
    const records = split(data);
    const expected = [...records].sort(Buffer.compare);
    assert.deepEqual(Array.from(order, (i) => records[i].toString('hex')), expected.map((r) => r.toString('hex')));
  });

  test('intersectRecords matches a naive intersection both ways, with duplicates on either side', () => {
    for (let round = 0; round < 20; round++) {
      const prefix = randomBytes(4);
      const pool = Array.from({ length: 30 }, (_, i) => (i % 3 ? randomBytes(RECORD) : Buffer.concat([prefix, randomBytes(RECORD - 4)])));
      const a = awkwardRecords(60, pool.slice(0, 20));
      const b = Buffer.concat(split(awkwardRecords(60, pool.slice(10))).sort(Buffer.compare));
      assert.deepEqual(intersectRecords(a, b), naive(a, b));
    }
  });

  test('empty sides give empty or all-zero answers', () => {
    const a = randomBytes(RECORD * 3);
    assert.deepEqual(intersectRecords(a, Buffer.alloc(0)), { inB: new Uint8Array(3), inA: new Uint8Array(0) });
    assert.deepEqual(intersectRecords(Buffer.alloc(0), a), { inB: new Uint8Array(0), inA: new Uint8Array(3) });
  });
});
