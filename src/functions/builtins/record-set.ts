// Set operations on packed fixed-size binary records, for PSI at 2^24 records per side. The records
// stay in the one Buffer they arrived in: views per record would cost ~100 bytes each and a
// comparator sort of 16M of them takes minutes, so instead the record order is an index array
// sorted by radix on the first 4 bytes, with ties settled by a full compare.
import { TesseraError } from '../../errors/index.js';
import { assertOrdered } from './common.js';

export const RECORD = 32;

export function recordCount(fn: string, data: Buffer, which: string): number {
  if (data.length % RECORD !== 0) {
    throw new TesseraError('invalid_input', `${fn}: ${which} is ${data.length} bytes, not a whole number of ${RECORD}-byte records`);
  }
  return data.length / RECORD;
}

/** Word-by-word in JavaScript: a native Buffer#compare per pair costs more than the 8 reads. */
function cmp(a: Buffer, i: number, b: Buffer, j: number): number {
  for (let w = 0; w < RECORD; w += 4) {
    const x = a.readUInt32BE(i * RECORD + w);
    const y = b.readUInt32BE(j * RECORD + w);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Each record's first 4 bytes as a number, so most comparisons never leave JavaScript. */
export function prefixes(data: Buffer): Uint32Array {
  const n = data.length / RECORD;
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) keys[i] = data.readUInt32BE(i * RECORD);
  return keys;
}

const keyedCmp = (ka: Uint32Array, a: Buffer, i: number, kb: Uint32Array, b: Buffer, j: number) =>
  ka[i] !== kb[j] ? (ka[i] < kb[j] ? -1 : 1) : cmp(a, i, b, j);

export function assertRecordsSorted(fn: string, data: Buffer, which: string, keys = prefixes(data)): void {
  assertOrdered(fn, which, data.length / RECORD, (i) => keyedCmp(keys, data, i - 1, keys, data, i));
}

/** Indices of the records in ascending bytewise order. */
export function sortedOrder(data: Buffer, keys = prefixes(data)): Uint32Array {
  const n = data.length / RECORD;
  let order = new Uint32Array(n);
  let spare = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const counts = new Uint32Array(65537);
  for (const shift of [0, 16]) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[((keys[order[i]] >>> shift) & 0xffff) + 1]++;
    for (let b = 1; b <= 65536; b++) counts[b] += counts[b - 1];
    for (let i = 0; i < n; i++) spare[counts[(keys[order[i]] >>> shift) & 0xffff]++] = order[i];
    [order, spare] = [spare, order];
  }
  // Runs sharing their first 4 bytes are rare for hashed records; sort each by the whole record.
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && keys[order[end]] === keys[order[start]]) end++;
    if (end - start > 1) {
      const run = Array.from(order.subarray(start, end)).sort((x, y) => cmp(data, x, data, y));
      order.set(run, start);
    }
    start = end;
  }
  return order;
}

/**
 * Membership both ways between `a` (any order) and `b` (sorted): inA[j] is 1 when b's record j is
 * somewhere in a, inB[i] is 1 when a's record i is somewhere in b. One linear merge after the sort.
 */
export function intersectRecords(a: Buffer, b: Buffer, kb = prefixes(b)): { inB: Uint8Array; inA: Uint8Array } {
  const ka = prefixes(a);
  const order = sortedOrder(a, ka);
  const na = order.length;
  const nb = b.length / RECORD;
  const inB = new Uint8Array(na);
  const inA = new Uint8Array(nb);
  let i = 0;
  let j = 0;
  while (i < na && j < nb) {
    const c = keyedCmp(kb, b, j, ka, a, order[i]);
    if (c < 0) j++;
    else if (c > 0) i++;
    else {
      const j0 = j;
      while (i < na && keyedCmp(kb, b, j0, ka, a, order[i]) === 0) inB[order[i++]] = 1;
      while (j < nb && keyedCmp(ka, a, order[i - 1], kb, b, j) === 0) inA[j++] = 1;
    }
  }
  return { inB, inA };
}
