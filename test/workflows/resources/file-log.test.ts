// file-log (EDGELESS edgeless_node/src/resources/file_log.rs): ping-pong where the ponger logs every ping
// to a file-log, as EDGELESS's ping_pong and file_log examples do between them. The lines have EDGELESS's
// format; they stay in the workflow's own folder, sealed, and only the owner reads them back.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { identitiesDirOf } from '../../../src/node/datadir.js';
import { type TestNode, startNode, tessera } from '../../helpers/cli.js';
import { jsFunction, workflowClient } from '../../helpers/workflows.js';
import { treeText } from '../../helpers/tree-text.js';

let node: TestNode;
let alice: ReturnType<typeof workflowClient>;
let bob: ReturnType<typeof workflowClient>;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'] });
  alice = workflowClient(node, 'alice');
  bob = workflowClient(node, 'bob');
});
after(() => node.cleanup());

// EDGELESS's functions/ping and functions/pong, in JS; the ponger also logs what it got.
const PING = `
let count = 0;
export function handle_init() { edgeless.cast('self', 'wakeup'); }
export function handle_cast(src, msg) {
  if (msg !== 'wakeup' || count >= 5) return;
  count++;
  const r = edgeless.call('ponger', 'PING-' + count);
  edgeless.cast('log', 'pinger got ' + (r.type === 'reply' ? r.data : r.type));
  edgeless.delayed_cast(10, 'self', 'wakeup');
}`;
const PONG = `
export function handle_call(src, msg) { edgeless.cast('log', msg); return 'PONG'; }`;

const pingPong = (configurations: Record<string, string>) => ({
  functions: [jsFunction('pinger', PING, { ponger: 'ponger', log: 'log' }), jsFunction('ponger', PONG, { log: 'log' })],
  resources: [{ name: 'log', class_type: 'file-log', output_mapping: {}, configurations }],
});


describe('file-log', () => {
  test('ping-pong logs every ping and reply: EDGELESS line format, read back by the owner only, sealed on disk', async () => {
    const started = await alice.start(pingPong({ filename: 'out.log', 'add-timestamp': 'true', 'add-source-id': 'false' }), 'pingpong');
    assert.equal(started.status, 201, started.body.toString());
    const content = await alice.until(async () => {
      const r = await alice.file('pingpong', 'out.log');
      const text = r.status === 200 ? (r.json().content as string) : '';
      return text.split('\n').length > 10 ? text : undefined;
    }, 'ten lines in out.log');
    const lines = content.trimEnd().split('\n');
    assert.equal(lines.length, 10);
    // add-source-id is on although its value is "false", as in EDGELESS (the key's presence decides)
    const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00) InstanceId\(node_id: ([0-9a-f-]{36}), function_id: ([0-9a-f-]{36})\) (.*)$/;
    const parsed = lines.map((l) => l.match(LINE));
    assert.ok(parsed.every(Boolean), content);
    assert.deepEqual(
      parsed.map((m) => m![4]),
      [1, 2, 3, 4, 5].flatMap((i) => [`PING-${i}`, 'pinger got PONG']),
    );
    const instances = (await alice.inspect(started.json().workflow_id)).json().functions as Array<{ name: string; instance_id: string }>;
    const idOf = (name: string) => instances.find((f) => f.name === name)!.instance_id;
    assert.equal(parsed[0]![3], idOf('ponger'), 'the source is the instance that cast');
    assert.equal(parsed[1]![3], idOf('pinger'));
    assert.ok(Date.parse(parsed[0]![1]) <= Date.now());

    // only alice reads it; bob's workflow of the same name is another folder
    assert.equal((await bob.file('pingpong', 'out.log')).status, 404);
    // the data directory holds the lines sealed: no message text in any file
    const disk = treeText(node.dir);
    assert.ok(!disk.includes('PING-1') && !disk.includes('pinger got'), 'a log line is on disk in the clear');

    // the CLI reads it too
    const flags = ['-i', join(identitiesDirOf(node.dir), 'alice'), '--url', `https://127.0.0.1:${node.ports.https}`, '--insecure-skip-verification'];
    const cli = await tessera(['workflow', 'file', 'pingpong', 'out.log', ...flags]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout, content);

    // the file outlives the workflow; a new run appends
    assert.equal((await alice.stop(started.json().workflow_id)).status, 200);
    assert.equal((await alice.file('pingpong', 'out.log')).json().content, content);
  });

  test('without add-timestamp and add-source-id a line is the message alone; a call replies ""', async () => {
    const CALLER = `export function handle_init() { const r = edgeless.call('log', 'called'); edgeless.cast('log', 'reply was ' + JSON.stringify(r)); }`;
    const spec = { functions: [jsFunction('caller', CALLER, { log: 'log' })], resources: [{ name: 'log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'logs/plain.log' } }] };
    const r = await alice.start(spec, 'plain');
    assert.equal(r.status, 201, r.body.toString());
    const content = await alice.until(async () => {
      const f = await alice.file('plain', 'logs/plain.log');
      return f.status === 200 && f.json().content.split('\n').length > 2 ? f.json().content : undefined;
    }, 'two lines');
    assert.equal(content, 'called\nreply was {"type":"reply","data":""}\n');
  });

  describe('bad configurations are refused at start, by name, and nothing half-starts', () => {
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['a path out of the folder', { filename: '../escape.log' }, /resource 'log' \(file-log\): filename '\.\.\/escape\.log' must be a relative file name inside the workflow's own folder/],
      ['an absolute path', { filename: '/tmp/x.log' }, /filename '\/tmp\/x\.log' must be a relative file name/],
      ['a path climbing back out', { filename: 'a/../../b.log' }, /must be a relative file name/],
      ['no filename', {}, /resource 'log' \(file-log\): configuration 'filename' is missing/],
    ];
    for (const [name, configurations, message] of cases) {
      test(name, async () => {
        const r = await alice.start(pingPong(configurations), `bad-${name.replaceAll(' ', '-')}`);
        assert.equal(r.status, 400, r.body.toString());
        assert.match(r.json().error.message, message);
        const running = (await alice.list()).json().workflows.filter((w: { name: string }) => w.name.startsWith('bad-'));
        assert.deepEqual(running, []);
      });
    }
  });

  test('a resource class the node does not offer is refused by name, with the classes it offers', async () => {
    const r = await alice.start({ functions: [], resources: [{ name: 'q', class_type: 'dda', output_mapping: {}, configurations: {} }] }, 'dda');
    assert.equal(r.status, 400);
    assert.match(r.json().error.message, /resource 'q' has class 'dda', which this node does not offer; it offers http-ingress, http-egress, file-log/);
  });
});

describe('file-log switched off by the operator', () => {
  let off: TestNode;
  before(async () => {
    off = await startNode({ users: ['alice'], config: (c) => (c.workflows = { resources: { file_log: { enabled: false } } }) });
  });
  after(() => off.cleanup());

  test('is refused, naming the setting', async () => {
    const r = await workflowClient(off, 'alice').start(pingPong({ filename: 'x.log' }), 'off');
    assert.equal(r.status, 400);
    assert.match(r.json().error.message, /class 'file-log', which this node does not offer \(workflows\.resources\.file_log\.enabled is false\)/);
  });
});
