import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { tempDir } from '../helpers/cli.js';
import { CLEAN, closedPort, configDir, run, STACK } from './run.js';

// Every ordinary mistake is one line on stderr, `tessera: …`, with no stack trace and the exit code
// docs/cli.md gives it; --debug (or TESSERA_DEBUG=1) adds the stack trace.

let dir: string;
let env: Record<string, string | undefined>;
let alice: string;
let nowhere: string;
before(async () => {
  dir = join(tempDir(), 'data');
  const init = await run(['init', '--data', dir, '--users', 'alice', '--members', 'm0']);
  assert.equal(init.code, 0, init.stderr);
  env = { ...CLEAN, TESSERA_CONFIG_DIR: configDir() };
  alice = join(identitiesDirOf(dir), 'alice');
  nowhere = `https://127.0.0.1:${await closedPort()}`;
});

function oneLine(r: { stderr: string }, message: RegExp) {
  assert.doesNotMatch(r.stderr, STACK);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^tessera: /);
  assert.match(r.stderr, message);
}

describe('user mistakes: one line, no stack trace', () => {
  const cases: Array<[string, () => string[], number, RegExp]> = [
    ['a missing file to upload', () => ['file', 'upload', '/nonexistent/records.bin', '-i', alice, '--insecure-skip-verification'], 1, /\/nonexistent\/records.bin does not exist/],
    ['a missing --out folder', () => ['file', 'get', 'some-id', '-o', '/nonexistent/out.bin', '-i', alice, '--insecure-skip-verification'], 1, /--out \/nonexistent\/out.bin: the folder \/nonexistent does not exist; create it first/],
    ['serve on a data directory that does not exist', () => ['serve', '--data', '/nonexistent/data'], 1, /no data directory at \/nonexistent\/data; create one with 'tessera init --data \/nonexistent\/data'/],
    ['ledger verify /nonexistent', () => ['ledger', 'verify', '/nonexistent'], 1, /no data directory at \/nonexistent/],
    ['user list on a data directory that does not exist', () => ['user', 'list', '--data', '/nonexistent/data'], 1, /\/nonexistent\/data/],
    ['a missing identity folder', () => ['file', 'list', '-i', '/nonexistent/alice', '--url', nowhere, '--insecure-skip-verification'], 1, /\/nonexistent\/alice\/cert.pem is missing/],
    ['a missing member identity', () => ['gov', 'list', '-i', '/nonexistent/m0', '--url', nowhere], 1, /\/nonexistent\/m0\/cert.pem is missing/],
    ['a missing proposal file', () => ['gov', 'propose', '/nonexistent/p.json', '-i', join(identitiesDirOf(dir), 'm0'), '--url', nowhere], 1, /\/nonexistent\/p.json: no such file or folder/],
    ['a missing workflow file', () => ['workflow', 'start', '/nonexistent/w.json', '-i', alice, '--url', nowhere, '--insecure-skip-verification'], 1, /\/nonexistent\/w.json/],
    ['a missing --ca', () => ['file', 'list', '-i', alice, '--url', nowhere, '--ca', '/nonexistent/ca.pem', '--insecure-skip-verification'], 1, /\/nonexistent\/ca.pem: no such file or folder/],
    ['a node that is not running (client)', () => ['file', 'list', '-i', alice, '--url', nowhere, '--insecure-skip-verification'], 3, /no node answers at https:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); start one with `tessera serve` or pass --url/],
    ['a node that is not running (member)', () => ['gov', 'list', '-i', join(identitiesDirOf(dir), 'm0'), '--url', nowhere], 3, /no node answers at https:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); start one with `tessera serve` or pass --url/],
    ['an http URL', () => ['file', 'list', '-i', alice, '--url', 'http://127.0.0.1:1', '--insecure-skip-verification'], 1, /https/],
    ['no identity at all', () => ['file', 'list', '--url', nowhere, '--insecure-skip-verification'], 1, /who are you\? pass --identity DIR/],
    ['audit verify of a missing file', () => ['audit', 'verify', '/nonexistent/enclave_info.toml', '--auditor', 'a.pem:a.sig'], 1, /\/nonexistent\/enclave_info.toml: no such file or folder/],
    ['measure -o into a missing folder', () => ['measure', '--data', dir, '-o', '/nonexistent/enclave_info.toml'], 1, /\/nonexistent\/enclave_info.toml: no such file or folder/],
  ];
  for (const [what, args, code, message] of cases) {
    test(`${what}: exit ${code}`, async () => {
      const r = await run(args(), env);
      assert.equal(r.code, code, r.stderr);
      oneLine({ stderr: r.stderr.replace(/^tessera: WARNING: insecureSkipVerification.*\n/m, '') }, message);
    });
  }
});

describe('usage errors exit 2', () => {
  for (const args of [['bogus'], ['file', 'list', '--bogus'], ['file', 'upload'], ['task', 'approve'], ['serve', '--https-port', 'eighty'], ['completion', 'fish'], ['context', 'add', 'x']]) {
    test(`tessera ${args.join(' ')}`, async () => {
      const r = await run(args, env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^error: /);
      assert.doesNotMatch(r.stderr, STACK);
    });
  }
  test('--help and --version exit 0', async () => {
    assert.equal((await run(['--help'], env)).code, 0);
    assert.equal((await run(['file', 'list', '--help'], env)).code, 0);
    assert.equal((await run(['--version'], env)).code, 0);
  });
});

describe('--debug', () => {
  test('--debug and TESSERA_DEBUG=1 add the stack trace, keep the exit code', async () => {
    const args = ['file', 'list', '-i', alice, '--url', nowhere, '--insecure-skip-verification'];
    for (const [extra, e] of [[['--debug'], env], [[], { ...env, TESSERA_DEBUG: '1' }]] as const) {
      const r = await run([...args, ...extra], e);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /no node answers at/);
      assert.match(r.stderr, STACK);
    }
  });
});
