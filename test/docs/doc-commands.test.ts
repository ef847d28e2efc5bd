import assert from 'node:assert/strict';
import { test } from 'node:test';
import { docCommands, fillPlaceholders, printedId } from '../helpers/doc-commands.js';

// The convention test/docs/commands.test.ts reads docs with: what is a command, what is skipped and why,
// and how placeholders are filled.

test('sh blocks give their commands, joined across continuations; comments, output and other blocks do not', () => {
  const md = ['```sh', 'tessera init   # makes it', '# an output line', '', 'export A=1 \\', '       B=2', '```', '```json', '{"not": "a command"}', '```', '  ```sh', '  tessera list', '  ```'].join('\n');
  assert.deepEqual(docCommands(md), [
    { text: 'tessera init   # makes it', line: 2 },
    { text: 'export A=1  B=2', line: 5 },
    { text: 'tessera list', line: 12 },
  ]);
});

test('`# test: skip REASON` skips with the reason; a skip without one, or another directive, is refused', () => {
  assert.deepEqual(docCommands('```sh\ntessera serve --tee snp   # test: skip needs SEV-SNP hardware\n```'), [{ text: 'tessera serve --tee snp', line: 2, skip: 'needs SEV-SNP hardware' }]);
  assert.throws(() => docCommands('```sh\ntessera x   # test: skip\n```'), /line 2: '# test: skip' needs a reason/);
  assert.throws(() => docCommands('```sh\ntessera x   # test: maybe later\n```'), /unknown test directive 'maybe'/);
});

test('placeholders take the id the latest command printed; redirections are not placeholders', () => {
  assert.equal(printedId('5ef0cfc7-11e9-445a-8c46-23790ea86819\n'), '5ef0cfc7-11e9-445a-8c46-23790ea86819');
  assert.equal(printedId('027a4c5aebf0  Open  (0 ballots)  tx 2.7\n'), '027a4c5aebf0');
  assert.equal(printedId('approved; the task is Ready\n'), undefined);
  assert.equal(printedId('registered word-count (js, Single)\nfunction id    3f1c0a9b\nfunction hash  77aa00ff\n'), '3f1c0a9b');
  assert.equal(fillPlaceholders('tessera task invoke <task-id> --payload hi', 'abc12345'), 'tessera task invoke abc12345 --payload hi');
  assert.equal(fillPlaceholders('tessera gov vote <id> --accept', undefined), undefined);
  assert.equal(fillPlaceholders('tessera fn invoke x < request.json 2>&1', undefined), 'tessera fn invoke x < request.json 2>&1');
});
