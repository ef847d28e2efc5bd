// The ledger on both store backends (issue 22): Ledger and stateAt on SQLite and on PostgreSQL alike, then
// what only a shared PostgreSQL database has: two nodes committing, one signing (the lease holder's role,
// LedgerOptions.canSign), receipts for either node's transactions from either node, and a takeover of the
// signing that extends the same Merkle tree.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type PemPair, createCertificateAuthority, issueCertificate } from '../../src/crypto/certificates.js';
import { Ledger } from '../../src/store/ledger.js';
import { checkLedger, verifyLedger, verifyPostgresLedger } from '../../src/store/ledger-verify.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { verifyReceipt } from '../../src/store/receipt.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { LedgerStore } from '../../src/store/types.js';
import { tempDir } from '../helpers/cli.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres.js';

let server: PostgresServer;
let ca: PemPair;
let nodeA: PemPair;
let nodeB: PemPair;
const conn = () => ({ host: server.host, port: server.port, user: server.user, database: server.database });
const rowKey = Buffer.alloc(32, 7);
const ledgerKey = Buffer.alloc(32, 9);
/** The commit-evidence secret: derived from the master key, so the same on every node of one service. */
const secret = Buffer.alloc(32, 3);

const newSchema = async () => server.newSchema('l');

before(async () => {
  server = await startPostgres();
  ca = await createCertificateAuthority('ledger test service');
  nodeA = await issueCertificate(ca, { name: 'node-a', role: 'service' });
  nodeB = await issueCertificate(ca, { name: 'node-b', role: 'service' });
});
after(async () => {
  await server?.destroy();
});

/** Each backend, opened fresh: a Store with the ledger's tables, and how to check its ledger offline. */
const backends: Array<{ name: string; open(): Promise<{ store: LedgerStore; verify(): Promise<ReturnType<typeof checkLedger>>; cleanup(): Promise<void> }> }> = [
  {
    name: 'SQLite',
    open: async () => {
      const dir = tempDir('tessera-ledger-');
      const path = join(dir, 'store.sqlite');
      const store = new SqliteStore(path, { rowKey, ledgerKey });
      return { store, verify: async () => verifyLedger(path, ca.certPem), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const { schema, drop } = await newSchema();
      const store = new PostgresStore({ connection: conn(), schema, rowKey, ledgerKey });
      return { store, verify: () => verifyPostgresLedger(conn(), schema, ca.certPem), cleanup: drop };
    },
  },
];

for (const backend of backends) {
  describe(`the ledger on ${backend.name}`, () => {
    test('signs, serves receipts that verify against the service CA, answers historical queries, and checks offline', async () => {
      const { store, verify, cleanup } = await backend.open();
      try {
        const ledger = new Ledger(store, secret, nodeA);
        const s1 = store.transact((tx) => tx.put('public:notes', 'a', { v: 1 })).seqno!;
        const s2 = store.transact((tx) => {
          tx.put('secrets', 'k', { hidden: true });
          tx.put('public:notes', 'b', { v: 2 });
        }).seqno!;
        const s3 = store.transact((tx) => {
          tx.delete('public:notes', 'a');
          tx.put('public:notes', 'b', { v: 3 });
        }).seqno!;
        assert.deepEqual([s1, s2, s3], [1, 2, 3]);
        assert.equal(ledger.receipt(`2.${s1}`), null, 'no receipt before a signature');
        assert.deepEqual(ledger.sign(), { seqno: 3, root: ledger.lastSignatureRoot() });
        assert.equal(ledger.sign(), null, 'nothing new to sign');
        assert.equal(ledger.lastSigned(), 3);
        assert.equal(ledger.size.entries, 3);
        assert.ok(ledger.size.bytes > 0);
        for (const s of [s1, s2, s3]) {
          const r = ledger.receipt(`2.${s}`)!;
          assert.equal(r.node_id, ledger.id);
          verifyReceipt(r, ca.certPem);
        }
        // stateAt: what each transaction wrote, private tables unsealed, deletes absent.
        assert.deepEqual([...store.stateAt('public:notes', s1)], [['a', { v: 1 }]]);
        assert.deepEqual([...store.stateAt('secrets', s2)], [['k', { hidden: true }]]);
        assert.deepEqual([...store.stateAt('public:notes', s2)], [['b', { v: 2 }]]);
        assert.deepEqual([...store.stateAt('public:notes', s3)], [['b', { v: 3 }]]);
        assert.deepEqual([...store.stateAt('secrets', s3)], []);
        assert.deepEqual([...store.stateAt('public:notes', 99)], [], 'a transaction not committed yet has no state');

        // A second Ledger on the same store (a restart) rebuilds the same tree from the stored leaves.
        const again = new Ledger(store, secret, nodeA);
        assert.deepEqual(again.size, ledger.size);
        assert.deepEqual(again.receipt(`2.${s2}`), ledger.receipt(`2.${s2}`));

        const report = await verify();
        assert.deepEqual(report, { transactions: 3, signatures: 1, lastSigned: '2.3', unsigned: 0, problems: [] });
      } finally {
        store.close();
        await cleanup();
      }
    });
  });
}

describe('two nodes on one PostgreSQL database', () => {
  test('only the signer signs; receipts for either node’s transactions verify from either node; a takeover extends the same tree', async () => {
    const { schema, drop } = await newSchema();
    const a = new PostgresStore({ connection: conn(), schema, rowKey, ledgerKey });
    const b = new PostgresStore({ connection: conn(), schema, rowKey, ledgerKey });
    // B's lease: not held at first. (The node wires canSign to SigningLease.held().)
    let bHolds = false;
    const ledgerA = new Ledger(a, secret, nodeA);
    const ledgerB = new Ledger(b, secret, nodeB, { canSign: () => bHolds });
    try {
      const who = new Map<number, 'a' | 'b'>();
      for (let i = 0; i < 10; i++) {
        const node = i % 3 === 0 ? 'b' : 'a';
        const seqno = (node === 'a' ? a : b).transact((tx) => tx.put(i % 2 ? 'public:log' : 'private', `k${i}`, { i, node })).seqno!;
        who.set(seqno, node);
        if (i === 4) assert.equal(ledgerA.sign()?.seqno, 5, 'A signs mid-way');
      }
      assert.deepEqual([...who.keys()], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'one gap-free sequence across both nodes');
      assert.equal(ledgerB.sign(), null, 'B does not hold the lease: it does not sign');
      assert.equal(ledgerB.lastSigned(), 5, "B sees A's signature");
      assert.equal(ledgerB.receipt('2.7'), null, 'transaction 7 is not signed yet');
      assert.equal(ledgerA.sign()?.seqno, 10, "A's tree has B's commits too: it signs all ten");

      const receiptsB = new Map<number, ReturnType<Ledger['receipt']>>();
      for (const [seqno, node] of who) {
        const fromA = ledgerA.receipt(`2.${seqno}`)!;
        const fromB = ledgerB.receipt(`2.${seqno}`)!;
        assert.deepEqual(fromB, fromA, `node B serves the same receipt for ${seqno} (committed on ${node}) as the signer`);
        assert.equal(fromB.node_id, ledgerA.id, 'the receipt names the node that signed, not the one that serves it');
        verifyReceipt(fromB, ca.certPem);
        receiptsB.set(seqno, fromB);
      }
      // B never wrote a leaf or a signature, yet its tree is the shared one.
      assert.equal(ledgerB.size.entries, 10);
      assert.deepEqual(ledgerB.size, ledgerA.size);
      assert.deepEqual(ledgerB.lastSignature(), ledgerA.lastSignature());

      // Commits the signer has not signed, then A dies: B takes the lease and signs.
      for (let i = 10; i < 14; i++) (i % 2 ? a : b).transact((tx) => tx.put('public:log', `k${i}`, { i }));
      ledgerA.catchUp(); // A stored leaves 11..14 but died before signing them
      a.close();
      bHolds = true;
      const sig = ledgerB.sign();
      assert.equal(sig?.seqno, 14, 'B signs what A left unsigned');
      const late = b.transact((tx) => tx.put('private', 'late', { after: 'takeover' })).seqno!;
      assert.equal(late, 15);
      assert.equal(ledgerB.sign()?.seqno, 15);
      for (const seqno of [11, 12, 14, 15]) {
        const r = ledgerB.receipt(`2.${seqno}`)!;
        assert.equal(r.node_id, ledgerB.id);
        verifyReceipt(r, ca.certPem);
      }
      // Old receipts (signed by A) still verify, and B serves them unchanged: the tree was extended, not rebuilt.
      for (const [seqno, r] of receiptsB) {
        verifyReceipt(r!, ca.certPem);
        assert.deepEqual(ledgerB.receipt(`2.${seqno}`), r);
      }
      // stateAt from B for A's commits (private ones unsealed with the shared ledger key).
      // Transaction 3 (i = 2) was A's write to a private table; 1 (i = 0) B's.
      assert.equal(who.get(3), 'a');
      assert.deepEqual([...b.stateAt('private', 3)], [['k2', { i: 2, node: 'a' }]]);
      assert.deepEqual([...b.stateAt('private', 1)], [['k0', { i: 0, node: 'b' }]]);
      assert.deepEqual([...b.stateAt('public:log', 3)], []);
      assert.deepEqual([...b.stateAt('private', late)], [['late', { after: 'takeover' }]]);

      // Offline: every signature (A's and B's) over the one tree, both endorsed by the service.
      const report = await verifyPostgresLedger(conn(), schema, ca.certPem);
      assert.deepEqual(report, { transactions: 15, signatures: 4, lastSigned: '2.15', unsigned: 0, problems: [] });
    } finally {
      a.close();
      b.close();
      await drop();
    }
  });

  test('two signers at once (a lease lost mid-signature) keep one tree: leaves and signatures stored first win, nothing diverges', async () => {
    const { schema, drop } = await newSchema();
    const a = new PostgresStore({ connection: conn(), schema });
    const b = new PostgresStore({ connection: conn(), schema });
    try {
      const ledgerA = new Ledger(a, secret, nodeA);
      // B's view of the leaves misses A's once: as if A stored them between B's read of the leaves and its
      // own append (the race of two signers, which one thread cannot otherwise make happen on cue).
      const tables = b.ledgerTables;
      let hideOnce = false;
      const racing = {
        lastSeqno: () => b.lastSeqno(),
        ledgerTables: { ...tables, leaves: (after: number, limit: number) => (hideOnce ? ((hideOnce = false), []) : tables.leaves(after, limit)) },
      } as unknown as LedgerStore;
      const ledgerB = new Ledger(racing, secret, nodeB);
      for (let i = 0; i < 6; i++) (i % 2 ? a : b).transact((tx) => tx.put('public:x', `k${i}`, i));
      assert.equal(ledgerA.catchUp(), 6);
      // B computes the same leaves, finds them stored (appendLeaves false), and takes the stored ones.
      hideOnce = true;
      let appended: boolean | undefined;
      const append = tables.appendLeaves;
      (racing.ledgerTables as { appendLeaves: typeof append }).appendLeaves = (l) => (appended = append(l));
      assert.equal(ledgerB.catchUp(), 6);
      assert.equal(appended, false, "B's leaves were refused: A's were there");
      assert.deepEqual(ledgerB.size, ledgerA.size);
      assert.equal(ledgerA.sign()?.seqno, 6);
      assert.equal(ledgerB.sign(), null, 'B finds the signature at 6 already there');
      a.transact((tx) => tx.put('public:x', 'k6', 6));
      assert.equal(ledgerB.sign()?.seqno, 7);
      verifyReceipt(ledgerA.receipt('2.7')!, ca.certPem);
      verifyReceipt(ledgerA.receipt('2.3')!, ca.certPem);
      const report = await verifyPostgresLedger(conn(), schema, ca.certPem);
      assert.deepEqual(report.problems, []);
      assert.equal(report.signatures, 2);
    } finally {
      a.close();
      b.close();
      await drop();
    }
  });
});

describe('the cost on PostgreSQL', () => {
  test('signing N transactions, a receipt on a node that does not sign, a historical read, a restart', async (t) => {
    const { schema, drop } = await newSchema();
    const a = new PostgresStore({ connection: conn(), schema, ledgerKey });
    const b = new PostgresStore({ connection: conn(), schema, ledgerKey });
    try {
      const N = 300;
      for (let i = 0; i < N; i++) (i % 2 ? a : b).transact((tx) => tx.put('public:x', `k${i}`, { i, pad: 'x'.repeat(100) }));
      const ledgerA = new Ledger(a, secret, nodeA);
      let t0 = performance.now();
      assert.equal(ledgerA.sign()?.seqno, N);
      const signMs = performance.now() - t0;
      const ledgerB = new Ledger(b, secret, nodeB, { canSign: () => false });
      const trips = b.stats.roundTrips;
      t0 = performance.now();
      const R = 100;
      const receipts = [];
      for (let i = 1; i <= R; i++) receipts.push(ledgerB.receipt(`2.${i}`)!);
      const receiptMs = (performance.now() - t0) / R;
      for (const r of receipts) verifyReceipt(r, ca.certPem);
      const tripsPerReceipt = (b.stats.roundTrips - trips) / R;
      t0 = performance.now();
      for (let i = 1; i <= R; i++) assert.equal(b.stateAt('public:x', i).size, 1);
      const historyMs = (performance.now() - t0) / R;
      t0 = performance.now();
      const restarted = new Ledger(b, secret, nodeB, { canSign: () => false });
      const restartMs = performance.now() - t0;
      assert.equal(restarted.size.entries, N);
      t.diagnostic(
        `PostgreSQL ledger: first signature over ${N} transactions ${signMs.toFixed(1)} ms (catch-up from the shared txlog, leaves stored in one statement); ` +
          `receipt on a non-signing node ${receiptMs.toFixed(2)} ms, ${tripsPerReceipt} round trips; ` +
          `stateAt (uncached) ${historyMs.toFixed(2)} ms; Ledger start over ${N} stored leaves ${restartMs.toFixed(1)} ms`,
      );
    } finally {
      a.close();
      b.close();
      await drop();
    }
  });
});
