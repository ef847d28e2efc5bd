// The store's schema version at the node's start (issue 20 #5, docs/upgrades.md): a store from before versions
// were recorded is migrated to the current version; a store from a newer Tessera is refused, in one line,
// before anything in the data directory changes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import { serveDataDir, tempDir, tessera, useEphemeralPorts } from './helpers/cli.js';

const meta = (dir: string, sql: string) => {
  const db = new Database(join(dir, 'store.sqlite'));
  try {
    db.prepare(sql).run();
  } finally {
    db.close();
  }
};
const version = (dir: string) => {
  const db = new Database(join(dir, 'store.sqlite'), { readonly: true });
  try {
    return Number((db.prepare("SELECT value FROM store_meta WHERE name = 'schema version'").get() as { value: string } | undefined)?.value ?? 0);
  } finally {
    db.close();
  }
};
/** Every file of the data directory with its SHA-256, to show that nothing changed. */
const fingerprint = (dir: string, prefix = ''): string[] =>
  readdirSync(join(dir, prefix)).flatMap((n) => {
    const rel = join(prefix, n);
    return statSync(join(dir, rel)).isDirectory() ? fingerprint(dir, rel) : [`${rel} ${createHash('sha256').update(readFileSync(join(dir, rel))).digest('hex')}`];
  });

async function initialised(): Promise<string> {
  const dir = join(tempDir('tessera-upgrade-'), 'data');
  const init = await tessera(['init', '--data', dir, '--users', 'alice']);
  assert.equal(init.code, 0, init.stderr);
  useEphemeralPorts(dir);
  return dir;
}

test('a new data directory is at the current schema version', async () => {
  assert.equal(version(await initialised()), SCHEMA_VERSION);
});

test('a store from before schema versions (version 0) is migrated at start, and the node serves', async () => {
  const dir = await initialised();
  meta(dir, "DELETE FROM store_meta WHERE name = 'schema version'");
  assert.equal(version(dir), 0);
  const node = await serveDataDir(dir);
  try {
    assert.match(node.logs(), /"from":0,"to":\d+,"msg":"store schema migrated/);
  } finally {
    await node.stop();
    await node.cleanup();
  }
  assert.equal(version(dir), SCHEMA_VERSION);
});

test('a store from a newer Tessera is refused in one line, and the data directory is left as it was', async () => {
  const dir = await initialised();
  meta(dir, `UPDATE store_meta SET value = '${SCHEMA_VERSION + 1}' WHERE name = 'schema version'`);
  const before = fingerprint(dir);
  for (const args of [['serve', '--data', dir], ['user', 'add', 'carol', '--data', dir]]) {
    const r = await tessera(args);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`^tessera: .*store\\.sqlite has store schema version ${SCHEMA_VERSION + 1}, but this Tessera knows versions up to ${SCHEMA_VERSION}: it was written by a newer Tessera`));
  }
  assert.deepEqual(fingerprint(dir), before);
});
