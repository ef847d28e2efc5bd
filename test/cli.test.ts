import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startNode, tempDir, tessera } from './helpers/cli.js';
import { WireClient } from './helpers/wire-client.js';
import { identitiesDirOf } from '../src/node/datadir.js';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('tessera init', () => {
  test('creates config, CA, node identity, users and members, and says what to run next', async () => {
    const dir = join(tempDir(), 'data');
    const r = await tessera(['init', '--data', dir, '--users', 'alice,bob', '--members', 'm0,m1,m2']);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ['tessera.toml', 'ca.pem', 'ca.key.sealed', 'node/cert.pem', 'node/key.sealed']) assert.ok(existsSync(join(dir, f)), f);
    for (const f of ['ca.key.sealed', 'node/key.sealed']) {
      assert.equal(mode(join(dir, f)), 0o600);
      assert.doesNotMatch(readFileSync(join(dir, f), 'utf8'), /PRIVATE KEY/, `${f} holds its key sealed, not as PEM`);
    }
    for (const f of ['ca.key.pem', 'node/key.pem']) assert.ok(!existsSync(join(dir, f)), `no plaintext ${f}`);
    for (const name of ['alice', 'bob']) {
      assert.equal(mode(join(identitiesDirOf(dir), name, 'key.pem')), 0o600);
      assert.equal(mode(join(identitiesDirOf(dir), name, 'token')), 0o600);
      const token = readFileSync(join(identitiesDirOf(dir), name, 'token'), 'utf8').trim();
      assert.ok(Buffer.from(token, 'base64url').length >= 16, 'a token has at least 128 bits');
    }
    assert.equal(identitiesDirOf(dir), `${dir}-identities`);
    assert.ok(!existsSync(join(dir, 'identities')), 'no credential is kept in the data directory');
    assert.equal(mode(identitiesDirOf(dir)), 0o700);
    assert.equal(readFileSync(join(identitiesDirOf(dir), 'alice', 'ca.pem'), 'utf8'), readFileSync(join(dir, 'ca.pem'), 'utf8'), 'each folder carries the CA to trust');
    assert.match(r.stdout, /hand each folder of \S+-identities to its owner/);
    for (const name of ['m0', 'm1', 'm2']) {
      assert.ok(existsSync(join(identitiesDirOf(dir), name, 'cert.pem')));
      assert.ok(!existsSync(join(identitiesDirOf(dir), name, 'token')), 'members get no token');
    }
    assert.match(r.stdout, /Next: tessera serve --data /);
    assert.match(r.stdout, /sealing key\s+\S*tessera-sealing-\S*\/sealing.key\s+\(outside the data directory/);
    assert.match(r.stdout, /user\s+alice/);
    assert.match(r.stdout, /member m2/);
    assert.match(readFileSync(join(dir, 'tessera.toml'), 'utf8'), /# Largest frame accepted.*\nmax_frame_bytes = 4194304/);
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  test('tokens reach the store only as scrypt hashes', async () => {
    const dir = join(tempDir(), 'data');
    assert.equal((await tessera(['init', '--data', dir, '--users', 'alice'])).code, 0);
    const token = readFileSync(join(identitiesDirOf(dir), 'alice', 'token'), 'utf8').trim();
    for (const f of readdirSync(dir).filter((f) => f.startsWith('store.sqlite'))) {
      assert.ok(!readFileSync(join(dir, f)).includes(token), `${f} holds the token in the clear`);
    }
    const list = await tessera(['user', 'list', '--data', dir, '--json']);
    assert.ok(!list.stdout.includes('scrypt') && !list.stdout.includes(token));
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  test('refuses a directory that is not empty, and leaves it exactly as it was', async () => {
    const dir = join(tempDir(), 'data');
    assert.equal((await tessera(['init', '--data', dir, '--users', 'alice'])).code, 0);
    const digest = () =>
      createHash('sha256')
        .update(readdirSync(dir, { recursive: true }).sort().map((f) => { const p = join(dir, String(f)); return statSync(p).isFile() ? `${f}:${readFileSync(p).toString('hex')}` : String(f); }).join('\n'))
        .digest('hex');
    const before = digest();
    const again = await tessera(['init', '--data', dir, '--users', 'mallory']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists and is not empty; init never overwrites/);
    assert.equal(digest(), before);
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  test('bad names are refused and leave nothing behind', async () => {
    const parent = tempDir();
    for (const [args, pattern] of [
      [['--users', 'alice,alice'], /'alice' is named twice/],
      [['--users', 'al ice'], /invalid name 'al ice'/],
      [['--users', 'node'], /'node' is reserved/],
      [['--users', 'bob', '--members', 'bob'], /'bob' is named twice/],
    ] as Array<[string[], RegExp]>) {
      const dir = join(parent, 'data');
      const r = await tessera(['init', '--data', dir, ...args]);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, pattern);
      assert.ok(!existsSync(dir), `init left ${dir} behind after ${args.join(' ')}`);
    }
    rmSync(parent, { recursive: true, force: true });
  });
});

describe('tessera user', () => {
  test('add, list and remove, with clear errors', async () => {
    const dir = join(tempDir(), 'data');
    assert.equal((await tessera(['init', '--data', dir, '--users', 'alice'])).code, 0);
    const add = await tessera(['user', 'add', 'carol', '--data', dir]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /Added user carol/);
    assert.ok(existsSync(join(identitiesDirOf(dir), 'carol', 'token')));
    // After init, members join only through governance (set_member), as in CCF: the refusal says how.
    const member = await tessera(['user', 'add', 'm9', '--member', '--data', dir]);
    assert.equal(member.code, 1);
    assert.match(member.stderr, /^tessera: members join only through governance \(set_member\), as in CCF: m9 runs {2}tessera gov keygen m9 /);

    const list = JSON.parse((await tessera(['user', 'list', '--json', '--data', dir])).stdout);
    assert.deepEqual(list.map((p: any) => [p.name, p.role]).sort(), [['alice', 'user'], ['carol', 'user'], ['node', 'service']]);
    assert.match((await tessera(['user', 'list', '--data', dir])).stdout, /^NAME\s+ROLE/);

    const dup = await tessera(['user', 'add', 'carol', '--data', dir]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /'carol' already exists/);
    const node = await tessera(['user', 'remove', 'node', '--data', dir]);
    assert.match(node.stderr, /'node' is a service identity/);
    const removed = await tessera(['user', 'remove', 'carol', '--data', dir]);
    assert.equal(removed.code, 0);
    assert.ok(!existsSync(join(identitiesDirOf(dir), 'carol')));
    const gone = await tessera(['user', 'remove', 'carol', '--data', dir]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no identity named 'carol'/);
    const nowhere = await tessera(['user', 'list', '--data', join(dir, 'nope')]);
    assert.match(nowhere.stderr, /is not a Tessera data directory; create one with 'tessera init/);
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });
});

describe('help', () => {
  test('every command has help with examples', async () => {
    const top = await tessera(['--help']);
    for (const cmd of ['init', 'serve', 'start', 'user']) assert.match(top.stdout, new RegExp(`\\n  ${cmd}`));
    for (const args of [['--help'], ['init', '--help'], ['serve', '--help'], ['start', '--help'], ['user', '--help']]) {
      const r = await tessera(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Examples?:|Getting started:/, args.join(' '));
    }
    const bad = await tessera(['serve', '--http-port', 'abc']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /a port is a whole number/);
  });
});

describe('tessera serve', () => {
  test('refuses a missing data directory with the command that makes one', async () => {
    const r = await tessera(['serve', '--data', join(tempDir(), 'none')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no data directory at .*; create one with 'tessera init/);
  });

  test('logs one line per request with outcome and duration, and never the token', async () => {
    const node = await startNode({ users: ['alice'] });
    try {
      const alice = node.identity('alice');
      const c = await WireClient.connect(node.ports.tms_external, { cert: alice.cert, key: alice.key, ca: node.ca });
      await c.request({ type: 'List', user_id: 'alice', user_token: alice.token });
      await c.request({ type: 'List', user_id: 'alice', user_token: 'wrong' });
      c.close();
      await new Promise((r) => setTimeout(r, 200));
      const lines = node.logs().split('\n').filter((l) => l.includes('"wire request"')).map((l) => JSON.parse(l));
      assert.equal(lines.length, 2);
      assert.equal(lines[0].outcome, 'ok');
      assert.equal(lines[0].type, 'List');
      assert.equal(lines[0].caller, 'alice');
      assert.equal(typeof lines[0].ms, 'number');
      assert.equal(lines[1].outcome, 'error');
      assert.equal(lines[1].kind, 'PermissionDenied');
      assert.ok(!node.logs().includes(alice.token), 'a token reached the log');
    } finally {
      await node.cleanup();
    }
  });

  test('SIGTERM and SIGINT stop cleanly; what was committed is there after a restart', async () => {
    const node = await startNode({ users: ['alice'] });
    try {
      const alice = node.identity('alice');
      const creds = { user_id: 'alice', user_token: alice.token };
      const connect = (listener: string) => WireClient.connect(node.ports[listener], { cert: alice.cert, key: alice.key, ca: node.ca });
      let tms = await connect('tms_external');
      const task = await tms.request({ type: 'Create', function_name: 'echo', collaborator_list: [], files: [], ...creds });
      tms.close();
      const fns = await connect('fns');
      await fns.request({ task_id: task.task_id, function_name: 'echo', task_token: task.task_token, payload: 'p' });
      fns.close();

      assert.equal(await node.stop('SIGTERM'), 0);
      assert.match(node.logs(), /SIGTERM: finishing in-flight requests/);
      assert.match(node.logs(), /"msg":"stopped"/);
      await node.restart();
      tms = await connect('tms_external');
      const got = await tms.request({ type: 'Get', task_id: task.task_id, ...creds });
      assert.equal(got.task_info.status, 'Finished');
      assert.deepEqual((await tms.request({ type: 'List', ...creds })).list, [task.task_id]);
      tms.close();
      assert.equal(await node.stop('SIGINT'), 0);
    } finally {
      await node.cleanup();
    }
  });

  test('an idle connection does not hold up shutdown', async () => {
    const node = await startNode({ users: ['alice'] });
    try {
      const alice = node.identity('alice');
      const idle = await WireClient.connect(node.ports.tms_external, { cert: alice.cert, key: alice.key, ca: node.ca });
      const started = Date.now();
      assert.equal(await node.stop('SIGTERM'), 0);
      assert.ok(Date.now() - started < 5000, 'shutdown waited for an idle connection');
      await idle.closed();
    } finally {
      await node.cleanup();
    }
  });
});

describe('HTTPS', () => {
  const get = (port: number, path: string, id?: { cert: string; key: string }, ca?: string, token?: string) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const headers = token ? { authorization: `Bearer ${token}` } : {};
      const req = request({ host: '127.0.0.1', port, path, ca, cert: id?.cert, key: id?.key, servername: 'localhost', headers }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(data) }));
      });
      req.on('error', reject);
      req.end();
    });

  test('health is public; everything else needs a client certificate; errors are CCF-shaped JSON', async () => {
    const node = await startNode({ users: ['alice'] });
    try {
      const health = await get(node.ports.https, '/v1/health', undefined, node.ca);
      assert.equal(health.status, 200);
      assert.equal(health.body.status, 'ok');
      const anon = await get(node.ports.https, '/v1/tasks', undefined, node.ca);
      assert.equal(anon.status, 401);
      assert.deepEqual(Object.keys(anon.body.error), ['code', 'message']);
      assert.equal(anon.body.error.code, 'InvalidAuthenticationInfo');
      const missing = await get(node.ports.https, '/v1/nothing-here', node.identity('alice'), node.ca, node.identity('alice').token);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, 'ResourceNotFound');
    } finally {
      await node.cleanup();
    }
  });
});

describe('tessera start', () => {
  test('serves an existing data directory without re-initialising it', async () => {
    const parent = tempDir();
    const dir = join(parent, 'data');
    assert.equal((await tessera(['init', '--data', dir, '--users', 'zed'])).code, 0);
    const { useEphemeralPorts, tesseraCommand, TEST_ENV } = await import('./helpers/cli.js');
    useEphemeralPorts(dir);
    const { spawn } = await import('node:child_process');
    const proc = spawn(...tesseraCommand(['start', '--data', dir]), { stdio: ['ignore', 'pipe', 'pipe'], env: TEST_ENV });
    const exited = new Promise((r) => proc.once('exit', r));
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        proc.stdout.on('data', (d) => {
          out += d;
          if (out.includes('tessera ready')) resolve();
        });
        proc.on('exit', () => reject(new Error(out)));
      });
      assert.ok(!out.includes('Created'), 'start re-ran init on an existing directory');
      assert.ok(existsSync(join(identitiesDirOf(dir), 'zed')));
      assert.ok(!existsSync(join(identitiesDirOf(dir), 'alice')));
    } finally {
      // Ended by its pid whatever the assertions said.
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
