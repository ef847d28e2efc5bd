import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { Tessera } from '../../src/sdk/client.js';
import { align, formatBytes, formatDuration, output, progressLine } from '../../src/cli/output.js';
import { REPO, type TestNode, startNode, tempDir } from '../helpers/cli.js';
import { CLEAN, configDir, run } from './run.js';

// --json (one JSON document) and --quiet (ids only) on the commands that print data; tables with a
// header on a terminal and plain rows in a pipe; readable summaries for `workflow inspect` and `gov show`.

/** A stand-in for stdout that records what is written, a terminal or not. */
function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { stream: { isTTY, write: (s: string) => chunks.push(s) } as unknown as NodeJS.WriteStream, text: () => chunks.join('') };
}

describe('the output module', () => {
  const rows = [{ id: 'a1', name: 'alpha' }, { id: 'b22', name: 'b' }];
  const cols = [{ key: 'id' as const, header: 'ID' }, { key: 'name' as const, header: 'NAME' }];

  test('a table: header and aligned on a terminal, plain rows in a pipe, ids with --quiet, JSON with --json', () => {
    const tty = sink(true);
    output({}, tty.stream).table(rows, cols, { idKey: 'id' });
    assert.equal(tty.text(), 'ID   NAME\na1   alpha\nb22  b\n');
    const pipe = sink(false);
    output({}, pipe.stream).table(rows, cols, { idKey: 'id' });
    assert.equal(pipe.text(), 'a1  alpha\nb22  b\n');
    const quiet = sink(false);
    output({ quiet: true }, quiet.stream).table(rows, cols, { idKey: 'id' });
    assert.equal(quiet.text(), 'a1\nb22\n');
    const json = sink(true);
    output({ json: true, quiet: true }, json.stream).table(rows, cols, { idKey: 'id' });
    assert.deepEqual(JSON.parse(json.text()), rows);
  });

  test('a record and the progress figures', () => {
    const s = sink(false);
    output({}, s.stream).record({}, [['state', 'Open'], ['proposer', 'm0'], ['skipped', undefined]]);
    assert.equal(s.text(), 'state     Open\nproposer  m0\n');
    assert.deepEqual(align([['a', 'bb'], ['ccc', 'd']]), ['a    bb', 'ccc  d']);
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatDuration(75), '1m15s');
    assert.deepEqual(progressLine(1024 * 1024, 4 * 1024 * 1024, 1000), { sizes: '1.0 MiB / 4.0 MiB', speed: '1.0 MiB/s', left: '3s' });
    assert.deepEqual(progressLine(50, 200, 2000, 'transactions'), { sizes: '50 / 200 transactions', speed: '25 transactions/s', left: '6s' });
  });
});

describe('--json and --quiet against a node', () => {
  let node: TestNode;
  let flags: string[];
  let member: string[];
  const env = { ...CLEAN, TESSERA_CONFIG_DIR: configDir() };
  before(async () => {
    node = await startNode({ users: ['alice'], members: ['m0'] });
    const url = `https://127.0.0.1:${node.ports.https}`;
    flags = ['-i', join(identitiesDirOf(node.dir), 'alice'), '--url', url, '--insecure-skip-verification'];
    member = ['-i', join(identitiesDirOf(node.dir), 'm0'), '--url', url];
  });
  after(() => node.cleanup());

  const json = async (args: string[]) => {
    const r = await run([...args, '--json'], env);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  test('files and tasks', async () => {
    const file = join(tempDir(), 'records.bin');
    writeFileSync(file, 'hello');
    const uploaded = await run(['file', 'upload', file, ...flags], env);
    assert.equal(uploaded.code, 0, uploaded.stderr);
    const fileId = uploaded.stdout.trim();
    assert.deepEqual(await json(['file', 'list', ...flags]), [fileId]);
    // The progress a download reports is in plaintext bytes: it ends at the file's size, not the ciphertext's.
    const me = node.identity('alice');
    const client = await Tessera.connect({ url: `https://127.0.0.1:${node.ports.https}`, ca: node.ca, cert: me.cert, key: me.key, userId: 'alice', token: me.token, insecureSkipVerification: true, warn: () => {} });
    const seen: Array<[number, number]> = [];
    try {
      await client.downloadFile(fileId, join(tempDir(), 'back.bin'), { onProgress: (done, total) => seen.push([done, total]) });
    } finally {
      client.close();
    }
    assert.deepEqual(seen.at(-1), [5, 5]);
    const taskId = (await run(['task', 'create', 'echo', ...flags], env)).stdout.trim();
    assert.ok((await json(['task', 'list', ...flags])).includes(taskId));
    assert.equal((await json(['task', 'get', taskId, ...flags])).function_name, 'echo');
    assert.equal((await json(['task', 'show', taskId, ...flags])).task.function_name, 'echo');
    assert.equal((await run(['task', 'get', taskId, '--quiet', ...flags], env)).stdout, `${taskId}\n`);
  });

  test('workflows: list and inspect (a summary by default, JSON with --json)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'echo.js'), 'export function handle_call(src, msg) { return msg; }');
    writeFileSync(join(dir, 'flow.json'), JSON.stringify({ functions: [{ name: 'echo', class_specification: { id: 'echo', function_type: 'JS', version: '1', code: 'echo.js', outputs: [] }, output_mapping: {}, annotations: {} }], resources: [] }));
    const id = (await run(['workflow', 'start', join(dir, 'flow.json'), ...flags], env)).stdout.trim();
    assert.equal((await json(['workflow', 'list', ...flags]))[0].workflow_id, id);
    assert.equal((await run(['workflow', 'list', '--quiet', ...flags], env)).stdout, `${id}\n`);
    assert.equal((await json(['workflow', 'inspect', id, ...flags])).functions[0].name, 'echo');
    const summary = await run(['workflow', 'inspect', id, ...flags], env);
    assert.match(summary.stdout, new RegExp(`^workflow  flow \\(${id}\\), owner alice, started \\S+\\nfunctions:\\n  echo  \\S+  0 events  0 queued  idle  0 restarts\\n$`));
  });

  test('governance: list and show (a summary by default, JSON with --json)', async () => {
    const proposal = join(REPO, 'test', 'fixtures', 'math-proposal.json');
    const proposed = await run(['gov', 'propose', proposal, ...member], env);
    assert.equal(proposed.code, 0, proposed.stderr);
    const id = proposed.stdout.split(/\s+/)[0];
    assert.ok((await json(['gov', 'list', ...member])).some((p: { proposalId: string }) => p.proposalId === id));
    assert.ok((await run(['gov', 'list', '--quiet', ...member], env)).stdout.split('\n').includes(id));
    const shown = await json(['gov', 'show', id, ...member]);
    assert.deepEqual(shown.actions, ['set_js_app']);
    const summary = await run(['gov', 'show', id, ...member], env);
    assert.match(summary.stdout, new RegExp(`^proposal  ${id}\\nstate {5}\\w+\\nproposer  [0-9a-f]+\\nactions {3}set_js_app\\nballots {3}\\d+\\n`));
  });

  test('users, contexts and the ledger', async () => {
    assert.ok((await json(['user', 'list', '--data', node.dir])).some((p: { name: string }) => p.name === 'alice'));
    assert.ok((await run(['user', 'list', '--quiet', '--data', node.dir], env)).stdout.split('\n').includes('alice'));
    assert.deepEqual(await json(['context', 'list']), []);
    assert.equal((await json(['ledger', 'verify', node.dir])).ok, true);
    assert.ok(Array.isArray((await json(['fn', 'list', ...flags])).functions));
  });
});
