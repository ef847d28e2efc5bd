import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { tempDir } from '../helpers/cli.js';
import { run } from './run.js';

// `tessera completion bash|zsh`: scripts made from the commander tree, so every command is in them.

let top: string[];
before(async () => {
  const help = await run(['--help']);
  // The "Commands:" section of the top-level help: each command's name starts a line, two spaces in.
  const section = help.stdout.split('Commands:\n')[1].split('\n\n')[0];
  top = [...section.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
  assert.ok(top.includes('serve') && top.includes('context') && top.includes('completion'), top.join(' '));
});

test('bash: valid syntax, every top-level command, and it completes commands, subcommands and options', async () => {
  const r = await run(['completion', 'bash']);
  assert.equal(r.code, 0, r.stderr);
  const file = join(tempDir(), 'tessera.bash');
  writeFileSync(file, r.stdout);
  execFileSync('bash', ['-n', file]);
  const words = r.stdout.match(/^ {4}''\) echo '([^']*)'/m)![1].split(' ');
  for (const c of top) assert.ok(words.includes(c), `bash completion lacks ${c}`);
  const complete = (...line: string[]) =>
    execFileSync('bash', ['-c', `source "$0"; COMP_WORDS=(${line.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${line.length - 1}; _tessera; printf '%s\\n' "\${COMPREPLY[@]}"`, file], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(complete('tessera', 'se'), ['serve']);
  assert.deepEqual(complete('tessera', 'gov', 'vo'), ['vote']);
  assert.ok(complete('tessera', 'serve', '--port').includes('--port-base'));
  assert.ok(complete('tessera', 'context', '').includes('use'));
});

test('zsh: every top-level command with its description, and valid syntax where zsh is installed', async (t) => {
  const r = await run(['completion', 'zsh']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^#compdef tessera\n/);
  for (const c of top) assert.match(r.stdout, new RegExp(`'${c}:[^']+'`), `zsh completion lacks ${c}`);
  if (spawnSync('zsh', ['--version']).status !== 0) return t.skip('zsh is not installed here');
  const file = join(tempDir(), '_tessera');
  writeFileSync(file, r.stdout);
  execFileSync('zsh', ['-n', file]);
});

test('completion --help shows how to load it', async () => {
  const r = await run(['completion', '--help']);
  assert.match(r.stdout, /\$ source <\(tessera completion bash\)/);
});
