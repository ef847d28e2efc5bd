// A second "node" for test/store/postgres.test.ts, on a thread of its own so that its commits really race
// the other's: `n` transactions, each bumping one hot row (so the two conflict and retry) and writing a
// row of its own. Posts the sequence numbers it got, and how often transact() gave up (its retries all
// lost the race to the other thread: both loop flat out on one row) and was called again.
import { parentPort, workerData } from 'node:worker_threads';
import { TesseraError } from '../../src/errors/index.js';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres.js';

const { options, n, tag } = workerData as { options: PostgresStoreOptions; n: number; tag: string };
const store = new PostgresStore({ ...options, rowKey: options.rowKey && Buffer.from(options.rowKey) });
const seqnos: number[] = [];
let refused = 0;
for (let i = 0; i < n; i++) {
  try {
    const { seqno } = store.transact((tx) => {
      tx.put('hot', 'count', (tx.get<number>('hot', 'count') ?? 0) + 1);
      tx.put('own', `${tag}-${i}`, i);
    });
    seqnos.push(seqno!);
  } catch (err) {
    if (!(err instanceof TesseraError && err.code === 'conflict')) throw err;
    refused++;
    i--;
  }
}
store.close();
parentPort!.postMessage({ seqnos, refused });
