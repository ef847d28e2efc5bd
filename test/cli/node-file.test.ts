import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { CLEAN, configDir, run, STACK } from './run.js';

// A node writes DATA/node.json once it is ready; `tessera` commands on the same machine find it through
// --data or TESSERA_DATA when no URL is given, and say so when the node is not running.

let node: TestNode;
let env: Record<string, string | undefined>;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0'] });
  env = { ...CLEAN, TESSERA_CONFIG_DIR: configDir() };
});
after(() => node.cleanup());

const alice = () => join(identitiesDirOf(node.dir), 'alice');

test('node.json names every listener, the CA, the pid and the version; it is 0600', () => {
  const path = join(node.dir, 'node.json');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const info = JSON.parse(readFileSync(path, 'utf8'));
  assert.equal(info.pid, node.proc.pid);
  assert.equal(info.url, `https://127.0.0.1:${node.ports.https}`);
  assert.equal(info.ca, join(node.dir, 'ca.pem'));
  assert.match(info.version, /^\d+\.\d+\.\d+/);
  for (const [name, port] of Object.entries(node.ports)) assert.equal(info.listeners[name].port, port, name);
});

test('without --url, a command finds the node through --data, and through TESSERA_DATA', async () => {
  const viaFlag = await run(['file', 'list', '--data', node.dir, '-i', alice(), '--insecure-skip-verification'], env);
  assert.equal(viaFlag.code, 0, viaFlag.stderr);
  const viaEnv = await run(['task', 'list', '-i', alice(), '--insecure-skip-verification'], { ...env, TESSERA_DATA: node.dir });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  // A member's commands too, and the CA comes from node.json.
  const gov = await run(['gov', 'list', '--data', node.dir, '-i', join(identitiesDirOf(node.dir), 'm0')], env);
  assert.equal(gov.code, 0, gov.stderr);
});

test('a node.json left by a crashed node is not trusted: exit 3, said in one line', async () => {
  const other = join(node.dir, '..', 'crashed');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(other);
  writeFileSync(join(other, 'node.json'), JSON.stringify({ pid: 2 ** 22 + 12345, url: 'https://127.0.0.1:1', ca: '/nowhere', listeners: {} }));
  const r = await run(['file', 'list', '--data', other, '-i', alice(), '--insecure-skip-verification'], env);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^tessera: the node of \S+crashed is not running \(\S+node.json is left from pid \d+\); start it with `tessera serve --data \S+` or pass --url\n$/);
});

test('a clean stop removes node.json; then the CLI says no node runs there (exit 3, no stack trace)', async () => {
  assert.equal(await node.stop('SIGTERM'), 0);
  assert.ok(!existsSync(join(node.dir, 'node.json')));
  const r = await run(['file', 'list', '--data', node.dir, '-i', alice(), '--insecure-skip-verification'], env);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^tessera: no node is running on \S+ \(it has no node.json\); start one with `tessera serve --data \S+` or pass --url\n$/);
  assert.doesNotMatch(r.stderr, STACK);
  // It comes back with the node.
  await node.restart();
  assert.ok(existsSync(join(node.dir, 'node.json')));
});
