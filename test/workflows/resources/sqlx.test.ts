// sqlx (EDGELESS edgeless_node/src/resources/sqlx.rs): EDGELESS's examples/sqlx shape (a sensor simulator
// casting numbers to sqlx_test, which INSERTs at init, SELECTs then UPDATEs on each number and DELETEs at
// stop) started from examples/workflows/sqlx as written, with the replies' exact texts; the database is the
// workflow's own sealed file, survives a node restart, is not another tenant's; and tenant SQL reaches no
// file, cannot hang the node and cannot grow the database past its limit.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { identitiesDirOf } from '../../../src/node/datadir.js';
import { REPO, type TestNode, startNode, tessera } from '../../helpers/cli.js';
import { jsFunction, workflowClient } from '../../helpers/workflows.js';
import { treeText } from '../../helpers/tree-text.js';

const EXAMPLE = join(REPO, 'examples', 'workflows', 'sqlx', 'workflow.json');
const MAX_DATABASE_BYTES = 65536;
const QUERY_TIME_LIMIT_MS = 300;

let node: TestNode;
let alice: ReturnType<typeof workflowClient>;
let bob: ReturnType<typeof workflowClient>;
before(async () => {
  node = await startNode({
    users: ['alice', 'bob'],
    config: (c) => (c.workflows = { ...(c.workflows ?? {}), resources: { sqlx: { max_database_bytes: MAX_DATABASE_BYTES, query_time_limit_ms: QUERY_TIME_LIMIT_MS } } }),
  });
  alice = workflowClient(node, 'alice');
  bob = workflowClient(node, 'bob');
});
after(() => node.cleanup());

/** `tessera workflow …` as `user`, with the CLI. */
const cli = (user: string, args: string[]) =>
  tessera(['workflow', ...args, '-i', join(identitiesDirOf(node.dir), user), '--url', `https://127.0.0.1:${node.ports.https}`, '--insecure-skip-verification']);

/** The lines of a workflow's file-log file once it has at least `n`. */
async function lines(client: ReturnType<typeof workflowClient>, workflow: string, file: string, n: number): Promise<string[]> {
  return client.until(async () => {
    const r = await client.file(workflow, file);
    const all = r.status === 200 ? (r.json().content as string).split('\n').slice(0, -1) : [];
    return all.length >= n ? all : undefined;
  }, `${n} lines in ${file}`);
}

/** The numbers sensor_simulator casts with seed 0 between 0 and 20, as Rust prints them (EDGELESS's Lcg). */
function sensorValues(n: number): number[] {
  let seed = 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    seed = ((Math.imul(1103515245, seed) + 12345) >>> 0) % 2147483648;
    out.push(Math.fround(Math.fround(Math.fround(seed / 2147483648) * 20) + 0));
  }
  return out;
}
/** serde_json's text of an f32. */
function f32Json(v: number): string {
  for (let p = 1; p <= 9; p++) {
    const s = String(Number(v.toPrecision(p)));
    if (Math.fround(Number(s)) === v) return Number.isInteger(Number(s)) ? `${s}.0` : s;
  }
  throw new Error('unreachable');
}


const UPDATED = 'rows_affected: 1, last_insert_rowid: 0.';
const row = (name: string, bar: string, foo: number) => `{"id":"${name}","metadata":{"bar":"${bar}","foo":${f32Json(foo)}}}`;

describe('sqlx: EDGELESS examples/sqlx, started from examples/workflows/sqlx as written', () => {
  test('INSERT at init, SELECT then UPDATE on each number, DELETE at stop: EDGELESS reply texts; sealed on disk; only the owner sees the rows', async () => {
    const started = await cli('alice', ['start', EXAMPLE, '--name', 'sqlx']);
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    const got = await lines(alice, 'sqlx', 'replies.log', 5);
    const [v1] = sensorValues(2);
    // The sensor's first number comes at once; its second 2 s later.
    assert.deepEqual(got.slice(0, 5), [
      'rows_affected: 1, last_insert_rowid: 1.',
      row('sqlx', 'initial', 42),
      UPDATED,
      row('sqlx', 'subsequent', v1!),
      UPDATED,
    ]);

    // The database is a file of alice's workflow folder, sealed: no row on disk, no SQLite file among the
    // workflows' files (the node's own store is an SQLite file elsewhere in the data directory).
    const disk = treeText(node.dir);
    for (const plain of ['subsequent', '"bar"']) assert.ok(!disk.includes(plain), `'${plain}' is on disk in the clear`);
    const files = treeText(join(node.dir, 'workflow-files'));
    for (const plain of ['SQLite format 3', 'WorkflowState']) assert.ok(!files.includes(plain), `'${plain}' is on disk in the clear`);

    // bob's workflow of the same name has its own database: his INSERT succeeds, his SELECT sees his row only.
    const bobs = await cli('bob', ['start', EXAMPLE, '--name', 'sqlx']);
    assert.equal(bobs.code, 0, bobs.stderr);
    const bobLines = await lines(bob, 'sqlx', 'replies.log', 3);
    assert.deepEqual(bobLines.slice(0, 3), ['rows_affected: 1, last_insert_rowid: 1.', row('sqlx', 'initial', 42), UPDATED]);
    assert.equal((await cli('bob', ['stop', bobs.stdout.trim()])).code, 0);

    // At stop sqlx_test DELETEs its row (the resource stops after the functions).
    assert.equal((await alice.stop(id)).status, 200);
    const all = (await alice.file('sqlx', 'replies.log')).json().content.split('\n').slice(0, -1) as string[];
    assert.equal(all.at(-1), 'rows_affected: 1, last_insert_rowid: 0.');
    const before = all.length;

    // Started again, the row is gone (the INSERT succeeds again) and rowids start over.
    const again = await cli('alice', ['start', EXAMPLE, '--name', 'sqlx']);
    assert.equal(again.code, 0, again.stderr);
    const next = await lines(alice, 'sqlx', 'replies.log', before + 2);
    assert.deepEqual(next.slice(before, before + 2), ['rows_affected: 1, last_insert_rowid: 1.', row('sqlx', 'initial', 42)]);
    assert.equal((await alice.stop(again.stdout.trim())).status, 200);
  });

  test('rows survive a node restart: the restored workflow finds its row ($1 is the workflow name, stable)', async () => {
    const started = await cli('alice', ['start', EXAMPLE, '--name', 'kept']);
    assert.equal(started.code, 0, started.stderr);
    const first = await lines(alice, 'kept', 'replies.log', 4);
    assert.deepEqual(first.slice(0, 3), ['rows_affected: 1, last_insert_rowid: 1.', row('kept', 'initial', 42), UPDATED]);

    // SIGTERM: no handle_stop, so no DELETE; the workflow comes back with the node and runs its init again.
    await node.restart();
    const n = first.length;
    const all = await alice.until(async () => {
      const got = await lines(alice, 'kept', 'replies.log', n);
      const at = got.indexOf('error returned from database: (code: 1555) UNIQUE constraint failed: WorkflowState.id');
      return at >= 0 && got.length > at + 1 ? { got, at } : undefined;
    }, 'the restored workflow to run its init and a SELECT');
    // EDGELESS's sqlx_test INSERTs at init: the row is there, so the INSERT fails as sqlx reports it, and the
    // SELECT sees a number an UPDATE before the restart wrote (which one depends on when SIGTERM came; the
    // file-log lines of the last event may not have been written by then).
    const updates = all.got.slice(0, all.at).filter((l) => l === UPDATED).length;
    assert.ok(updates >= 1);
    const written = sensorValues(updates + 2).map((v) => row('kept', 'subsequent', v));
    assert.ok(written.includes(all.got[all.at + 1]!), all.got[all.at + 1]);
    const running = (await alice.list()).json().workflows.find((w: { name: string }) => w.name === 'kept');
    assert.equal((await alice.stop(running.workflow_id)).status, 200);
  });
});

/** A workflow whose `probe` function runs each query of its init-payload by call and logs each reply. */
const PROBE = `
export function handle_init(payload) {
  for (const sql of JSON.parse(payload)) {
    const r = edgeless.call('db', sql);
    edgeless.cast('log', r.type === 'reply' ? r.data : '<' + r.type + '>');
  }
}`;
const probe = (queries: string[], configurations: Record<string, string> = { url: 'sqlite://probe.db' }) => ({
  functions: [jsFunction('probe', PROBE, { db: 'db', log: 'log' }, { 'init-payload': JSON.stringify(queries) })],
  resources: [
    { name: 'db', class_type: 'sqlx', output_mapping: {}, configurations },
    { name: 'log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'replies.log' } },
  ],
});
/** Runs `queries` in a new workflow of alice's and returns the replies, in order. */
async function run(name: string, queries: string[], configurations?: Record<string, string>): Promise<string[]> {
  const r = await alice.start(probe(queries, configurations), name);
  assert.equal(r.status, 201, r.body.toString());
  const got = await lines(alice, name, 'replies.log', queries.length);
  assert.equal((await alice.stop(r.json().workflow_id)).status, 200);
  return got;
}

describe('sqlx: EDGELESS dispatch', () => {
  test('by substring: SELECT replies the row or the error; INSERT/UPDATE/DELETE reply counts; anything else is Err (database in a subfolder)', async () => {
    const got = await run('dispatch', [
      `INSERT INTO WorkflowState (id, metadata) VALUES ($1, '{"z":[1,2.50,-0,1e21,1E-7,"\\u00e9"],"a":{"y":null,"b":true},"a":7}')`,
      'SELECT id, metadata FROM WorkflowState WHERE id=$1',
      "SELECT id, metadata FROM WorkflowState WHERE id='nobody'",
      'SELECT 1 AS id',
      "SELECT 'x' AS id, 5 AS metadata",
      "SELECT 'x' AS id, 'not json' AS metadata",
      `INSERT INTO WorkflowState (id, metadata) VALUES ('b', '{}'); INSERT INTO WorkflowState (id, metadata) VALUES ('c', '{}')`,
      "UPDATE WorkflowState SET metadata='[]' WHERE id != $1",
      'DELETE FROM WorkflowState',
      'CREATE TABLE t(x)',
      'select id, metadata from WorkflowState',
    ], { url: 'sqlite://data/dispatch.db' });
    assert.deepEqual(got, [
      'rows_affected: 1, last_insert_rowid: 1.',
      // serde_json: keys sorted, a repeated key keeps its last value, floats as ryu prints them
      '{"id":"dispatch","metadata":{"a":7,"z":[1,2.5,-0.0,1e21,1e-7,"é"]}}',
      'no rows returned by a query that expected to return at least one row',
      'error occurred while decoding column "id": mismatched types; Rust type `alloc::string::String` (as SQL type `TEXT`) is not compatible with SQL type `INTEGER`',
      'error occurred while decoding column "metadata": mismatched types; Rust type `serde_json::value::Value` (as SQL type `TEXT`) is not compatible with SQL type `INTEGER`',
      'error occurred while decoding column "metadata": expected ident at line 1 column 2',
      'rows_affected: 2, last_insert_rowid: 3.',
      'rows_affected: 2, last_insert_rowid: 0.',
      'rows_affected: 3, last_insert_rowid: 0.',
      '<err>',
      '<err>',
    ]);
  });
});

describe('sqlx: bad configurations are refused at start, by name, and nothing half-starts', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['no url', {}, /resource 'db' \(sqlx\): configuration 'url' is missing/],
    ['a url out of the folder', { url: 'sqlite://../escape.db' }, /resource 'db' \(sqlx\): url's file '\.\.\/escape\.db' must be a relative file name inside the workflow's own folder/],
    ['an absolute path', { url: 'sqlite:///tmp/abs.db' }, /url's file '\/tmp\/abs\.db' must be a relative file name/],
    ['another scheme', { url: 'postgres://localhost/db' }, /resource 'db' \(sqlx\): url 'postgres:\/\/localhost\/db' must be sqlite:\/\/<file>/],
    ['url options', { url: 'sqlite://x.db?mode=ro' }, /resource 'db' \(sqlx\): url 'sqlite:\/\/x\.db\?mode=ro' carries options/],
  ];
  for (const [name, configurations, message] of cases) {
    test(name, async () => {
      const r = await alice.start(probe(['SELECT 1'], configurations), `bad-${name.replaceAll(' ', '-')}`);
      assert.equal(r.status, 400, r.body.toString());
      assert.match(r.json().error.message, message);
      const running = (await alice.list()).json().workflows.filter((w: { name: string }) => w.name.startsWith('bad-'));
      assert.deepEqual(running, []);
    });
  }
  test("a database file sealed for another workflow (copied into this one's folder) does not open", async () => {
    const root = join(node.dir, 'workflow-files');
    const holders = () => new Set(readdirSync(root).filter((d) => existsSync(join(root, d, 'probe.db'))));
    const before = holders();
    await run('copy-a', [`INSERT INTO WorkflowState (id, metadata) VALUES ($1, '{}')`]);
    const [a] = [...holders()].filter((d) => !before.has(d));
    await run('copy-b', [`INSERT INTO WorkflowState (id, metadata) VALUES ($1, '{}')`]);
    const [b] = [...holders()].filter((d) => !before.has(d) && d !== a);
    copyFileSync(join(root, a!, 'probe.db'), join(root, b!, 'probe.db'));
    const r = await alice.start(probe(['SELECT 1']), 'copy-b');
    assert.equal(r.status, 400, r.body.toString());
    assert.match(r.json().error.message, /resource 'db' \(sqlx\): database 'probe\.db' does not open under this workflow's key/);
    assert.ok(!(await alice.list()).json().workflows.some((w: { name: string }) => w.name === 'copy-b'));
  });
});

describe('sqlx: tenant SQL reaches no file and cannot hold the node', () => {
  test('ATTACH, VACUUM INTO and load_extension reach no file outside: nothing is created or read', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'sqlx-outside-'));
    try {
      const target = join(outside, 'leak.db');
      const got = await run('attach', [
        `ATTACH DATABASE '/etc/passwd' AS x -- SELECT`,
        `/* SELECT */ attach '${target}' as y`,
        `SELECT * FROM x.sqlite_master`,
        `VACUUM INTO '${target}' -- INSERT`,
        `SELECT load_extension('/usr/lib/x86_64-linux-gnu/libz.so.1') AS id -- SELECT`,
        `PRAGMA max_page_count = 1000000 -- UPDATE`,
        `SELECT id, metadata FROM WorkflowState`,
      ]);
      const notAllowed = (k: string) => `statement not allowed: ${k} (sqlx on Tessera runs SELECT, VALUES, WITH, INSERT, REPLACE, UPDATE, DELETE, CREATE, DROP, ALTER, REINDEX, ANALYZE on the workflow's own database only)`;
      assert.deepEqual(got, [
        notAllowed('ATTACH'),
        notAllowed('ATTACH'),
        'error returned from database: (code: 1) no such table: x.sqlite_master',
        notAllowed('VACUUM'),
        'error returned from database: (code: 1) no such function: load_extension',
        notAllowed('PRAGMA'),
        'no rows returned by a query that expected to return at least one row',
      ]);
      assert.deepEqual(readdirSync(outside), [], 'a file appeared outside the workflow folder');
      assert.ok(!got.join('\n').includes('root:'), 'passwd leaked');
      assert.ok(!existsSync(join(process.cwd(), 'x')));
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test('an endless WITH RECURSIVE query is stopped at the time limit; the database and the node keep serving', async () => {
    const got = await run('endless', [
      `INSERT INTO WorkflowState (id, metadata) VALUES ($1, '{"n":1}')`,
      'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS id, 1 AS metadata FROM c',
      `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) UPDATE WorkflowState SET metadata = (SELECT count(*) FROM c)`,
      'SELECT id, metadata FROM WorkflowState WHERE id=$1',
    ]);
    const stopped = `query stopped: it ran longer than ${QUERY_TIME_LIMIT_MS} ms (workflows.resources.sqlx.query_time_limit_ms)`;
    assert.deepEqual(got, ['rows_affected: 1, last_insert_rowid: 1.', stopped, stopped, '{"id":"endless","metadata":{"n":1}}']);
    assert.equal((await alice.list()).status, 200);
  });

  test(`a database growing past max_database_bytes is refused with an error reply and keeps what it had`, async () => {
    const got = await run('full', [
      `INSERT INTO WorkflowState (id, metadata) VALUES ($1, '{"kept":true}')`,
      `CREATE TABLE big(b); INSERT INTO big SELECT randomblob(1000) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 200) SELECT x FROM c)`,
      'SELECT id, metadata FROM WorkflowState WHERE id=$1',
      `SELECT count(*) AS id, '{}' AS metadata FROM big -- big is gone with the failed query`,
    ]);
    assert.deepEqual(got, [
      'rows_affected: 1, last_insert_rowid: 1.',
      'error returned from database: (code: 13) database or disk is full',
      '{"id":"full","metadata":{"kept":true}}',
      'error returned from database: (code: 1) no such table: big',
    ]);
  });
});

describe('sqlx switched off by the operator', () => {
  let off: TestNode;
  before(async () => {
    off = await startNode({ users: ['alice'], config: (c) => (c.workflows = { ...(c.workflows ?? {}), resources: { sqlx: { enabled: false } } }) });
  });
  after(() => off.cleanup());

  test('is refused, naming the setting', async () => {
    const r = await workflowClient(off, 'alice').start(probe(['SELECT 1']), 'off');
    assert.equal(r.status, 400);
    assert.match(r.json().error.message, /resource 'db' has class 'sqlx', which this node does not offer \(workflows\.resources\.sqlx\.enabled is false\)/);
  });
});
