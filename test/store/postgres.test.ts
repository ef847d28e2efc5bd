// PostgresStore and SigningLease on a real PostgreSQL 15 (test/helpers/postgres.ts): the Store's
// conformance tests, then what only a shared database has: two nodes on it, an outage, the signing lease,
// and the cost of the synchronous bridge.
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { after, before, describe, test } from 'node:test';
import { TesseraError } from '../../src/errors/index.js';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres.js';
import { SigningLease, signingLeaseKey } from '../../src/store/postgres-lease.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres.js';
import { storeConformance } from '../helpers/store-conformance.js';

let server: PostgresServer;
const conn = () => ({ host: server.host, port: server.port, user: server.user, database: server.database });
const rowKey = Buffer.alloc(32, 7);
const ledgerKey = Buffer.alloc(32, 9);

const newSchema = async () => server.newSchema('t');

before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

for (const mode of ['rows in the clear', 'rows sealed'] as const) {
  storeConformance(`PostgreSQL, ${mode}`, async () => {
    const { schema, drop } = await newSchema();
    return { open: () => new PostgresStore({ connection: conn(), schema, ...(mode === 'rows sealed' ? { rowKey } : {}) }), cleanup: drop };
  });
}

describe('two nodes on one database', () => {
  test('a write by one is read by the other, and conflicting optimistic transactions across them are refused', async () => {
    const { schema, drop } = await newSchema();
    const a = new PostgresStore({ connection: conn(), schema, rowKey, ledgerKey });
    const b = new PostgresStore({ connection: conn(), schema, rowKey, ledgerKey });
    try {
      a.transact((tx) => tx.put('users', 'alice', { role: 'admin' }));
      assert.deepEqual(b.read((tx) => tx.get('users', 'alice')), { role: 'admin' });
      assert.deepEqual(b.read((tx) => tx.list('users')), [['alice', { role: 'admin' }]]);
      const versionBefore = b.version();
      const slow = b.begin();
      const seen = slow.get<{ role: string }>('users', 'alice')!;
      a.transact((tx) => tx.put('users', 'alice', { role: 'user' }));
      assert.notEqual(b.version(), versionBefore, "the other node's commit changes version()");
      slow.put('users', 'alice', { ...seen, note: 'stale' });
      assert.throws(() => slow.commit(), (err) => err instanceof TesseraError && err.code === 'conflict' && /changed before it committed/.test(err.message));
      // A phantom: b listed the table, a added a row to it.
      const lister = b.begin();
      assert.equal(lister.list('users').length, 1);
      a.transact((tx) => tx.put('users', 'bob', { role: 'user' }));
      lister.put('summary', 'users', 1);
      assert.throws(() => lister.commit(), (err) => err instanceof TesseraError && err.code === 'conflict');
      assert.deepEqual(b.read((tx) => tx.list('users').map(([k]) => k)), ['alice', 'bob'], "b's key index follows a's insert");
      assert.equal(a.lastSeqno(), 3);
      assert.equal(b.lastSeqno(), 3, 'the conflicts took no sequence number');
    } finally {
      a.close();
      b.close();
      await drop();
    }
  });

  test('concurrent commits from both get distinct, gap-free sequence numbers: the txlog holds 1..N', async (t) => {
    const { schema, drop } = await newSchema();
    const options: PostgresStoreOptions = { connection: conn(), schema, rowKey, ledgerKey };
    const n = 100;
    const run = (tag: string) =>
      new Promise<{ seqnos: number[]; refused: number }>((resolve, reject) => {
        const w = new Worker(new URL('./postgres-committer.js', import.meta.url), { workerData: { options, n, tag } });
        w.once('message', resolve);
        w.once('error', reject);
      });
    try {
      const [x, y] = await Promise.all([run('x'), run('y')]);
      const all = [...x.seqnos, ...y.seqnos].sort((p, q) => p - q);
      assert.deepEqual(all, Array.from({ length: 2 * n }, (_, i) => i + 1), 'each commit its own number, none skipped');
      const store = new PostgresStore({ connection: conn(), schema, rowKey, ledgerKey });
      try {
        const log = store.entries(1, 10 * n).map((e) => e.seqno);
        assert.deepEqual(log, Array.from({ length: 2 * n }, (_, i) => i + 1), 'the txlog has 1..N with no gap');
        assert.equal(store.read((tx) => tx.get('hot', 'count')), 2 * n, 'no lost update on the contended row');
        assert.equal(store.read((tx) => tx.list('own').length), 2 * n);
        t.diagnostic(`${x.refused + y.refused} transact() calls gave up on a conflict after their retries and were run again`);
      } finally {
        store.close();
      }
    } finally {
      await drop();
    }
  });

  test("private tables' keys and values are sealed in PostgreSQL's rows and txlog; public ones are not", async () => {
    const { schema, drop } = await newSchema();
    const store = new PostgresStore({ connection: conn(), schema, rowKey, ledgerKey });
    const c = await server.client();
    try {
      store.transact((tx) => {
        tx.put('secrets', 'alice-api-key', { password: 'hunter2-plaintext' });
        tx.put('public:notes', 'visible-key', 'visible-value');
      });
      const dump = async (sql: string) => JSON.stringify((await c.query(sql)).rows.map((r) => Object.values(r).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v)))));
      const rows = await dump(`SELECT tbl, key, value FROM ${schema}.kv`);
      const log = await dump(`SELECT writes FROM ${schema}.txlog`);
      const versions = await dump(`SELECT tbl FROM ${schema}.table_versions`);
      for (const secret of ['secrets', 'alice-api-key', 'hunter2-plaintext']) {
        for (const [what, text] of [['kv', rows], ['txlog', log], ['table_versions', versions]]) assert.ok(!text.includes(secret), `${what} shows no '${secret}'`);
      }
      assert.ok(rows.includes('visible-value') && log.includes('visible-key'), 'a public table is in the clear, as in CCF');
      assert.deepEqual(store.read((tx) => tx.get('secrets', 'alice-api-key')), { password: 'hunter2-plaintext' });
    } finally {
      await c.end();
      store.close();
      await drop();
    }
  });
});

describe('an outage', () => {
  test('PostgreSQL restarted mid-use: operations fail with unavailable (no hang, no crash), then work again with every committed write', async () => {
    const { schema, drop } = await newSchema();
    const store = new PostgresStore({ connection: conn(), schema, rowKey, ledgerKey, timeoutMs: 3000 });
    try {
      for (let i = 1; i <= 5; i++) assert.equal(store.transact((tx) => tx.put('t', `k${i}`, i)).seqno, i);
      const pending = store.begin();
      pending.get('t', 'k1');
      await server.stop();
      for (const op of [() => store.read((tx) => tx.get('t', 'k1')), () => store.transact((tx) => tx.put('t', 'lost', 1)), () => store.lastSeqno(), () => {
        pending.put('t', 'k1', 0);
        pending.commit();
      }]) {
        const started = Date.now();
        assert.throws(op, (err) => err instanceof TesseraError && err.code === 'unavailable' && /PostgreSQL/.test(err.message));
        assert.ok(Date.now() - started < 3500, 'each fails within the timeout');
      }
      await server.restart();
      assert.deepEqual(store.read((tx) => tx.list('t').map(([, v]) => v)), [1, 2, 3, 4, 5], 'every committed write is there');
      assert.equal(store.read((tx) => tx.get('t', 'lost')), undefined);
      assert.equal(store.transact((tx) => tx.put('t', 'k6', 6)).seqno, 6, 'the numbers go on with no gap');
      assert.deepEqual(store.entries(1, 100).map((e) => e.seqno), [1, 2, 3, 4, 5, 6]);
    } finally {
      store.close();
      await drop();
    }
  });
});

describe('the signing lease', () => {
  test('only one of two contenders holds it; when its connection is killed onLost fires and the other takes it', async () => {
    const a = new SigningLease({ connection: conn() });
    const b = new SigningLease({ connection: conn() });
    const admin = await server.client();
    try {
      assert.equal(await a.tryAcquire(), true);
      assert.equal(await b.tryAcquire(), false);
      assert.equal(a.held(), true);
      assert.equal(b.held(), false);
      const lost = new Promise<number>((resolve) => a.onLost(() => resolve(Date.now())));
      const holder = (await admin.query("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")).rows;
      assert.equal(holder.length, 1);
      const killedAt = Date.now();
      await admin.query('SELECT pg_terminate_backend($1)', [holder[0].pid]);
      const at = await lost;
      assert.equal(a.held(), false);
      assert.ok(at - killedAt < 1000, `onLost fired ${at - killedAt} ms after the kill`);
      assert.equal(await b.tryAcquire(), true, 'the other node takes the lease');
      assert.equal(await a.tryAcquire(), false, 'and the first, reconnected, cannot');
      await b.release();
      assert.equal(await a.tryAcquire(), true, 'a released lease is free at once');
    } finally {
      await admin.end();
      await a.release();
      await b.release();
    }
  });
});

describe('one lease per service', () => {
  test('services in two schemas of one database each have their own lease; nodes of one service share it', async () => {
    const leases = [new SigningLease({ connection: conn(), schema: 'service_a' }), new SigningLease({ connection: conn(), schema: 'service_b' }), new SigningLease({ connection: conn(), schema: 'service_a' })];
    try {
      assert.deepEqual(await Promise.all(leases.slice(0, 2).map((l) => l.tryAcquire())), [true, true]);
      assert.equal(await leases[2].tryAcquire(), false, 'another node of service_a waits for its service’s lease');
      assert.notEqual(signingLeaseKey('service_a'), signingLeaseKey('service_b'));
    } finally {
      for (const l of leases) await l.release();
    }
  });
});

describe('the cost of the synchronous bridge', () => {
  test('round trips per second, for a get and for a one-write commit (local unix socket)', async (t) => {
    const { schema, drop } = await newSchema();
    const store = new PostgresStore({ connection: conn(), schema, rowKey, ledgerKey });
    try {
      store.transact((tx) => tx.put('bench', 'row', { n: 0 }));
      const rate = (fn: (i: number) => void) => {
        for (let i = 0; i < 50; i++) fn(i); // warm up
        const started = process.hrtime.bigint();
        let n = 0;
        while (process.hrtime.bigint() - started < 1_000_000_000n) fn(n++);
        return Math.round(n / (Number(process.hrtime.bigint() - started) / 1e9));
      };
      // A get in a transaction is one statement; one in read(fn) also opens and ends its snapshot (BEGIN, COMMIT).
      const gets = rate(() => store.begin().get('bench', 'row'));
      const readGets = rate(() => store.read((tx) => tx.get('bench', 'row')));
      const commits = rate((i) => store.transact((tx) => tx.put('bench', `k${i % 100}`, i)));
      const trips = store.stats.roundTrips;
      store.lastSeqno();
      assert.equal(store.stats.roundTrips, trips + 1, 'lastSeqno is one round trip');
      const us = (rate: number) => `${(1e6 / rate).toFixed(0)} µs`;
      t.diagnostic(
        `PostgresStore over a unix socket, each blocking the event loop: ${gets} gets/s in a transaction (${us(gets)} each), ${readGets}/s as read(fn) with one get (${us(readGets)}), ${commits} one-write commits/s (${us(commits)}, fsync=on)`,
      );
      assert.ok(gets > 0 && readGets > 0 && commits > 0);
    } finally {
      store.close();
      await drop();
    }
  });
});
