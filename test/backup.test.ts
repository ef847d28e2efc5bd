// `tessera backup` while a node runs and writes, `tessera restore` into a new data directory, and a node on
// the restored data (issue 20 #5): its files download, its task, its workflow's synced state, its governance
// (an app deployed by proposal, and the app's rows) are all there, and `tessera ledger verify` passes. Then
// each bad input gets one line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execFile } from 'node:child_process';
import { TEST_ENV, type TestNode, serveDataDir, startNode, tempDir, tessera, tesseraCommand } from './helpers/cli.js';
import { builtinTasks } from './helpers/builtin-tasks.js';
import { passProposal } from './helpers/gov.js';
import { https } from './helpers/https-client.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from './helpers/workflows.js';

let node: TestNode;
let restored: TestNode | undefined;
const work = tempDir('tessera-backup-');
const tag = randomBytes(6).toString('hex');
const seen = { fileId: '', content: `kept across the backup ${tag}\n`, task: {} as Record<string, unknown>, taskId: '', state: `state-${tag}` };

const app = {
  metadata: {
    endpoints: {
      '/kv/{key}': {
        put: { js_module: 'kv.js', js_function: 'put', forwarding_required: 'never', authn_policies: ['user_cert'], mode: 'readwrite' },
        get: { js_module: 'kv.js', js_function: 'get', forwarding_required: 'never', authn_policies: ['user_cert'], mode: 'readonly' },
      },
    },
  },
  modules: [
    {
      name: 'kv.js',
      module: `
export function put(request) { ccf.kv['rows'].set(ccf.strToBuf(request.params.key), request.body.arrayBuffer()); return { statusCode: 204 }; }
export function get(request) { const v = ccf.kv['rows'].get(ccf.strToBuf(request.params.key)); return v === undefined ? { statusCode: 404 } : { body: ccf.bufToStr(v) }; }`,
    },
  ],
};
// Syncs what it is posted; tells what it got at init.
const KEEPER = `${HTTP_REPLY}
let seen = '';
export function handle_init(payload, state) { seen = state ?? ''; }
export function handle_call(src, msg) {
  const req = JSON.parse(msg);
  if (req.method === 'Post') { const s = String.fromCharCode(...req.body); edgeless.sync(s); edgeless.cast('log', 'kept ' + s); return reply(200, 'synced'); }
  return reply(200, 'init saw: ' + seen);
}`;
const put = (n: TestNode, key: string, value: string) => https(`https://127.0.0.1:${n.ports.https}/app/kv/${key}`, { ...n.identity('alice'), ca: n.ca }, { method: 'PUT', body: Buffer.from(value) });
const get = (n: TestNode, key: string) => https(`https://127.0.0.1:${n.ports.https}/app/kv/${key}`, { ...n.identity('alice'), ca: n.ca });
/** One line on stderr, prefixed, no stack trace, exit 1. */
function oneLine(r: { code: number; stderr: string }, pattern: RegExp) {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^tessera: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

before(async () => {
  node = await startNode({ users: ['alice', 'bob'], members: ['m0', 'm1', 'm2'] });
  await passProposal(node, [{ name: 'set_js_app', args: { bundle: app } }]);
  assert.equal((await put(node, 'before', 'written before the backup')).status, 204);
  const tasks = builtinTasks(() => node);
  seen.fileId = await tasks.upload('alice', seen.content);
  const run = await tasks.run('echo_file', { payload: seen.fileId });
  assert.equal(run.status, 200, run.body);
  seen.task = await run.view();
  seen.taskId = (await https(tasks.url('/v1/tasks'), tasks.id('alice'))).json().tasks[0];
  const wf = workflowClient(node, 'alice');
  const started = await wf.start(
    { functions: [jsFunction('keeper', KEEPER, { log: 'log' })], resources: [ingress('keeper', { host: 'keeper.example' }), { name: 'log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'keeper.log' } }] },
    'keeper',
  );
  assert.equal(started.status, 201, started.body.toString());
  assert.equal((await wf.ingressAt('keeper.example', '/set', { body: seen.state })).body.toString(), 'synced');
  // The workflow's file-log (sealed, under workflow-files/) has the line before the backup is taken.
  await wf.until(async () => {
    const f = await wf.file('keeper', 'keeper.log');
    return f.status === 200 && f.json().content.includes(seen.state) ? true : undefined;
  }, 'the file-log line');
});
after(async () => {
  await restored?.cleanup();
  await node.cleanup();
});

test('a backup taken while the node runs and writes restores into a node with the files, task, workflow state, governance and a verifying ledger', async () => {
  const out = join(work, 'node.tar');
  // Writes go on while the backup is taken: the copy is the store as of one commit, whichever that is.
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) assert.equal((await put(node, `during-${i}`, 'x')).status, 204);
  })();
  const backup = await tessera(['backup', '--data', node.dir, '--out', out]);
  writing = false;
  await writer;
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /^Backed up .* into .*node\.tar: \d+ files, [\d.]+ MiB, ledger at transaction \d+, store schema version \d+\n$/);

  // Neither the sealing key nor anyone's credentials are in it.
  const bytes = readFileSync(out);
  const sealingKey = readFileSync(TEST_ENV.TESSERA_SEALING_KEY_FILE, 'utf8').trim();
  assert.ok(!bytes.includes(Buffer.from(sealingKey)), 'the sealing key is not in the backup');
  assert.ok(!bytes.includes(Buffer.from(node.identity('alice').token)), "alice's token is not in the backup");
  assert.ok(!bytes.includes(Buffer.from('identities/')), 'no identities folder');

  const dir = join(work, 'restored');
  const restore = await tessera(['restore', '--from', out, '--data', dir]);
  assert.equal(restore.code, 0, restore.stderr);
  assert.equal(restore.stderr, '', 'the sealing key in place opens the restored data: no warning');
  assert.match(restore.stdout, /^Restored \d+ files .* into .*restored\nNext: tessera serve --data /);
  const verify = await tessera(['ledger', 'verify', dir]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /ledger: ok/);

  restored = await serveDataDir(dir, node.dir);
  const tasks = builtinTasks(() => restored!);
  assert.equal((await tasks.download('alice', seen.fileId)).toString(), seen.content, 'the uploaded file downloads');
  assert.equal(seen.task.status, 'Finished', JSON.stringify(seen.task));
  const task = await https(tasks.url(`/v1/tasks/${seen.taskId}`), tasks.id('alice'));
  assert.equal(task.status, 200, task.body.toString());
  assert.deepEqual(task.json(), seen.task, 'the task that ran is there as it was');
  assert.equal((await get(restored, 'before')).body.toString(), 'written before the backup', "the app deployed by proposal serves its rows");
  const wf = workflowClient(restored, 'alice');
  const saw = await wf.until(async () => {
    const r = await wf.ingressAt('keeper.example', '/get');
    return r.status === 200 ? r.body.toString() : undefined;
  }, 'the workflow to come back on the restored node');
  assert.equal(saw, `init saw: ${seen.state}`, 'the workflow came back with its synced state');
  const log = await wf.file('keeper', 'keeper.log');
  assert.equal(log.status, 200, log.body.toString());
  assert.match(log.json().content, new RegExp(`kept ${seen.state}`), "the workflow's file-log came with it");
  // The restored node goes on: it takes writes and its ledger still verifies after it stops.
  assert.equal((await put(restored, 'after', 'y')).status, 204);
  await restored.stop();
  const again = await tessera(['ledger', 'verify', dir]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
});

test('bad input: each gets one line, and nothing is left behind', async () => {
  const out = join(work, 'good.tar');
  // What a killed backup left in the data directory (its process is gone) goes at the next backup.
  mkdirSync(join(node.dir, '.backup-999999999-x', 'blobs'), { recursive: true });
  assert.equal((await tessera(['backup', '--data', node.dir, '--out', out])).code, 0);
  assert.ok(!existsSync(join(node.dir, '.backup-999999999-x')), "a killed backup's staging folder is removed");

  oneLine(await tessera(['backup', '--data', join(work, 'nowhere'), '--out', join(work, 'x.tar')]), /no data directory at .*nowhere$/);
  oneLine(await tessera(['backup', '--data', node.dir, '--out', join(work, 'no-such-folder', 'x.tar')]), /cannot write the backup to .*: the folder .*no-such-folder does not exist$/);
  oneLine(await tessera(['backup', '--data', node.dir, '--out', join(out, 'x.tar')]), /cannot write the backup to .*: .*good\.tar is not a folder$/);
  oneLine(await tessera(['backup', '--data', node.dir, '--out', out]), /good\.tar already exists; a backup is never written over another file/);
  assert.ok(!existsSync(join(work, 'no-such-folder')));
  assert.deepEqual(readdirSync(node.dir).filter((n) => n.startsWith('.backup-')), [], 'no staging folder left in the data directory');

  // One byte of the store changed inside the archive: its digest no longer matches the manifest.
  const damaged = join(work, 'damaged.tar');
  const bytes = readFileSync(out);
  const at = tarEntryOffset(bytes, 'store.sqlite');
  bytes[at + 4096] ^= 0xff;
  writeFileSync(damaged, bytes);
  oneLine(await tessera(['restore', '--from', damaged, '--data', join(work, 'r1')]), /damaged\.tar is damaged: store\.sqlite does not match its digest in the manifest .*; nothing was restored$/);
  assert.ok(!existsSync(join(work, 'r1')), 'nothing restored');
  assert.deepEqual(readdirSync(work).filter((n) => n.includes('.restore-')), [], 'no staging folder left');

  writeFileSync(join(work, 'cut.tar'), readFileSync(out).subarray(0, 5000));
  oneLine(await tessera(['restore', '--from', join(work, 'cut.tar'), '--data', join(work, 'r2')]), /cut\.tar is not a readable Tessera backup .*nothing was restored$/);
  oneLine(await tessera(['restore', '--from', join(work, 'missing.tar'), '--data', join(work, 'r3')]), /no backup at .*missing\.tar$/);

  const busy = join(work, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'something'), 'x');
  oneLine(await tessera(['restore', '--from', out, '--data', busy]), /busy is not empty; restore into a new or empty folder/);
  assert.deepEqual(readdirSync(busy), ['something']);

  // An empty folder is fine. With another sealing key in place, the data is restored and a warning says so.
  const empty = join(work, 'empty');
  mkdirSync(empty);
  const otherKey = join(work, 'other.key');
  writeFileSync(otherKey, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(...tesseraCommand(['restore', '--from', out, '--data', empty]), { env: { ...TEST_ENV, TESSERA_SEALING_KEY_FILE: otherKey } }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr })),
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^warning: .*master\.key\.sealed cannot be unsealed with .*other\.key: it was sealed under another sealing key; a node on .*empty needs the sealing key of the node that was backed up\n$/);
  assert.ok(existsSync(join(empty, 'store.sqlite')));
});

test('backup and restore --help show an example', async () => {
  for (const cmd of ['backup', 'restore']) {
    const r = await tessera([cmd, '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`Example:\\n  \\$ tessera ${cmd} `));
  }
});

/** Where the data of the tar entry `name` starts (ustar: 512-byte headers, name at 0, octal size at 124). */
function tarEntryOffset(tar: Buffer, name: string): number {
  for (let off = 0; off + 512 <= tar.length; ) {
    const entry = tar.subarray(off, off + 100).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(tar.subarray(off + 124, off + 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    if (entry === name) return off + 512;
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no entry ${name}`);
}
