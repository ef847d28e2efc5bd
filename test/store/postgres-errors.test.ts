import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isUnavailable } from '../../src/store/postgres-errors.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres.js';

// Which failures of PostgreSQL a store operation reports as 'unavailable' (503, try again) rather than as an
// internal error (500). Found by test/cluster/faults.test.ts: an upload while PostgreSQL restarted got a 500,
// "PostgreSQL refused a store operation (SQLSTATE EPIPE): write EPIPE": a socket's code, read as an SQLSTATE.

let pg: PostgresServer;
before(async () => {
  pg = await startPostgres();
});
after(() => pg?.destroy());

test("PostgreSQL's own refusal (a real SQLSTATE) is not 'unavailable'; its shutdown is", async () => {
  const client = await pg.client();
  client.on('error', () => {});
  const divided = await client.query('SELECT 1/0').catch((err: unknown) => err);
  assert.equal((divided as { code?: string }).code, '22012');
  assert.equal(isUnavailable(divided), false);
  const terminated = await client.query('SELECT pg_terminate_backend(pg_backend_pid())').catch((err: unknown) => err);
  assert.equal(isUnavailable(terminated), true, String(terminated));
  await client.end().catch(() => {});
});

test("a socket's error is 'unavailable', even one whose code looks like an SQLSTATE (EPIPE)", () => {
  // The shape Node gives a failed write on a socket the server closed.
  const epipe = Object.assign(new Error('write EPIPE'), { errno: -32, code: 'EPIPE', syscall: 'write' });
  assert.equal(isUnavailable(epipe), true);
  assert.equal(isUnavailable(Object.assign(new Error('read ECONNRESET'), { errno: -104, code: 'ECONNRESET', syscall: 'read' })), true);
});
