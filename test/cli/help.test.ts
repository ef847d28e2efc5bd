import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from './run.js';

// Every command whose options or output this work changed shows an example in its --help, and the
// top-level help names the exit codes and where the rest is documented.

const COMMANDS = [
  ['context'], ['context', 'add'], ['context', 'use'], ['context', 'list'], ['context', 'show'], ['context', 'remove'],
  ['completion'], ['serve'], ['start'], ['user', 'add'], ['user', 'list'], ['user', 'remove'], ['ledger', 'verify'],
  ['gov', 'list'], ['gov', 'show'], ['workflow', 'list'], ['workflow', 'inspect'], ['file', 'list'], ['task', 'list'],
  ['task', 'results'], ['fn', 'list'],
];

test('each touched command has an example in its --help', async () => {
  for (const args of COMMANDS) {
    const r = await run([...args, '--help']);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /Examples?:\n {2}\$ tessera /, `${args.join(' ')} --help has no example`);
  }
});

test('tessera --help names the precedence, the exit codes and docs/cli.md; client commands say how they find the node', async () => {
  const top = await run(['--help']);
  assert.match(top.stdout, /Exit codes: 0 ok, 1 failure, 2 usage, 3 no node answers, 4 verification failed, 5 a port is taken/);
  assert.match(top.stdout, /See docs\/cli\.md/);
  assert.match(top.stdout, /--debug/);
  const list = await run(['file', 'list', '--help']);
  assert.match(list.stdout, /Which node: --url, else \$TESSERA_URL, else the current context/);
  assert.match(list.stdout, /--json/);
  assert.match(list.stdout, /-q, --quiet/);
});
