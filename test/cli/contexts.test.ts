import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { CLEAN, closedPort, configDir, run, STACK } from './run.js';

// Contexts (`tessera context add|use|list|show|remove`) and the order in which a command picks its
// settings: flags > environment variables > current context > the local node.json > defaults.

let node: TestNode;
let env: Record<string, string | undefined>;
let dead: string;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0'] });
  env = { ...CLEAN, TESSERA_CONFIG_DIR: configDir() };
  dead = `https://127.0.0.1:${await closedPort()}`;
});
after(() => node.cleanup());

const url = () => `https://127.0.0.1:${node.ports.https}`;
const alice = () => join(identitiesDirOf(node.dir), 'alice');

describe('managing contexts', () => {
  test('add, list (current marked), show, use, remove; the file is 0600', async () => {
    const add = await run(['context', 'add', 'local', '--url', url(), '--ca', join(node.dir, 'ca.pem'), '-i', alice(), '--insecure-skip-verification'], env);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /context local added \(current\)/);
    assert.equal((await run(['context', 'add', 'far', '--url', dead], env)).code, 0);
    assert.equal(statSync(join(env.TESSERA_CONFIG_DIR!, 'contexts.json')).mode & 0o777, 0o600);

    const list = JSON.parse((await run(['context', 'list', '--json'], env)).stdout);
    assert.deepEqual(list.map((c: { name: string; current: boolean }) => [c.name, c.current]), [['far', false], ['local', true]]);
    assert.match((await run(['context', 'list'], env)).stdout, /^-  far  https:\/\/127\.0\.0\.1:\d+\s+none set\n\*  local  /);
    assert.equal((await run(['context', 'list', '--quiet'], env)).stdout, 'far\nlocal\n');

    const shown = JSON.parse((await run(['context', 'show', '--json'], env)).stdout);
    assert.equal(shown.identity, alice());
    assert.equal(shown.insecureSkipVerification, true);
    assert.match((await run(['context', 'show', 'far'], env)).stdout, /^name {10}far\nurl {11}https:\/\/127\.0\.0\.1:\d+\nverification  none set/);

    assert.equal((await run(['context', 'use', 'far'], env)).code, 0);
    assert.equal(JSON.parse(readFileSync(join(env.TESSERA_CONFIG_DIR!, 'contexts.json'), 'utf8')).current, 'far');
    assert.equal((await run(['context', 'use', 'local'], env)).code, 0);
  });

  test('mistakes are one line each: a taken name, an unknown context, a bad URL, a missing file', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['context', 'add', 'local', '--url', url()], /a context 'local' exists already; pass --force/],
      [['context', 'use', 'nope'], /no context 'nope'; see `tessera context list`/],
      [['context', 'remove', 'nope'], /no context 'nope'/],
      [['context', 'add', 'x', '--url', 'http://127.0.0.1:1'], /--url must be https/],
      [['context', 'add', 'x', '--url', url(), '--ca', '/nonexistent/ca.pem'], /--ca \/nonexistent\/ca.pem: \/nonexistent\/ca.pem does not exist/],
      [['context', 'add', 'bad name', '--url', url()], /'bad name' cannot name a context/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args, env);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, STACK);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal((await run(['context', 'add', 'x'], env)).code, 2, 'a missing --url is a usage error');
  });
});

describe('precedence: flags > environment > context > node.json > defaults', () => {
  test('the current context alone is enough: URL, CA, identity, verification', async () => {
    const r = await run(['file', 'list'], env);
    assert.equal(r.code, 0, r.stderr);
  });

  test('TESSERA_URL beats the context; --url beats TESSERA_URL', async () => {
    const envWins = await run(['file', 'list'], { ...env, TESSERA_URL: dead });
    assert.equal(envWins.code, 3);
    assert.match(envWins.stderr, new RegExp(`no node answers at ${dead.replace(/\./g, '\\.')} \\(ECONNREFUSED\\); start one with \`tessera serve\` or pass --url`));
    const flagWins = await run(['file', 'list', '--url', url()], { ...env, TESSERA_URL: dead });
    assert.equal(flagWins.code, 0, flagWins.stderr);
  });

  test('TESSERA_CONTEXT picks another context for one command', async () => {
    // far names no identity, where the current context (local) names alice's.
    const far = await run(['file', 'list'], { ...env, TESSERA_CONTEXT: 'far' });
    assert.equal(far.code, 1);
    assert.match(far.stderr, /who are you\? pass --identity DIR/);
    const unknown = await run(['file', 'list'], { ...env, TESSERA_CONTEXT: 'nope' });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^tessera: TESSERA_CONTEXT names 'nope', which is not a context; see `tessera context list`\n$/);
  });

  test('the context beats the local node.json; without a context, node.json is used', async () => {
    const viaContext = await run(['file', 'list', '-i', alice(), '--insecure-skip-verification'], { ...env, TESSERA_CONTEXT: 'far', TESSERA_DATA: node.dir });
    assert.equal(viaContext.code, 3, viaContext.stderr);
    assert.match(viaContext.stderr, /no node answers at https:\/\/127\.0\.0\.1:\d+/);
    const noContext = { ...CLEAN, TESSERA_CONFIG_DIR: configDir(), TESSERA_DATA: node.dir };
    const viaNodeJson = await run(['file', 'list', '-i', alice(), '--insecure-skip-verification'], noContext);
    assert.equal(viaNodeJson.code, 0, viaNodeJson.stderr);
  });

  test('TESSERA_INSECURE=0 turns off a context’s --insecure-skip-verification', async () => {
    const r = await run(['file', 'list'], { ...env, TESSERA_INSECURE: '0' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /verification needs the auditors’ signed enclave_info.toml/);
  });
});
