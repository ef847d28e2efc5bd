import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO, tessera } from '../helpers/cli.js';

// docs/ARCHITECTURE.md lists the CLI's commands in its layering table's src/cli/ row. This keeps the list
// and the CLI in step: every command `tessera --help` (and each group's --help) shows is listed, and
// nothing listed is missing from the CLI.

/** The command names of a --help's "Commands:" section (without commander's own `help`, and without aliases: `list|ls` is `list`). */
const commandsOf = (help: string) =>
  [...(help.split(/^Commands:\n/m)[1] ?? '').split(/\n\s*\n/)[0].matchAll(/^ {2}(\S+)/gm)].map((m) => m[1].split('|')[0]).filter((name) => name !== 'help');

test("docs/ARCHITECTURE.md's src/cli/ row lists every command of `tessera --help`", async () => {
  const top = await tessera(['--help']);
  assert.equal(top.code, 0, top.stderr);
  const actual = await Promise.all(
    commandsOf(top.stdout).map(async (name) => {
      const children = commandsOf((await tessera([name, '--help'])).stdout);
      return children.length ? `${name} ${children.join('/')}` : name;
    }),
  );
  const row = readFileSync(join(REPO, 'docs', 'ARCHITECTURE.md'), 'utf8').split('\n').find((l) => l.startsWith('| `src/cli/`'));
  assert.ok(row, 'ARCHITECTURE.md has a src/cli/ row');
  const listed = [...row.matchAll(/`([a-z][a-z-]*(?: [a-z/-]+)?)`/g)].map((m) => m[1]).filter((c) => !c.startsWith('tessera'));
  assert.deepEqual([...listed].sort(), [...actual].sort(), `write the src/cli/ row's list as: ${actual.map((c) => `\`${c}\``).join(', ')}`);
});
