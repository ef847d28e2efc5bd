import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode, tessera } from '../helpers/cli.js';
import { WireClient } from '../helpers/wire-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob', 'carol'] });
});
after(() => node.cleanup());

const as = (name: string) => {
  const id = node.identity(name);
  return { id, creds: { user_id: name, user_token: id.token } };
};
const connect = (listener: string, name: string) => {
  const { id } = as(name);
  return WireClient.connect(node.ports[listener], { cert: id.cert, key: id.key, ca: node.ca });
};
const connectService = (listener: string) =>
  WireClient.connect(node.ports[listener], { cert: node.service.cert, key: node.service.key, ca: node.ca });

async function createTask(user: string, fn: string, collaborators: string[] = []) {
  const tms = await connect('tms_external', user);
  const reply = await tms.request({ type: 'Create', function_name: fn, collaborator_list: collaborators, files: [], ...as(user).creds });
  tms.close();
  assert.equal(reply.type, 'Create', JSON.stringify(reply));
  return reply as { task_id: string; task_token: string; ip: string; port: number };
}

async function getTask(user: string, taskId: string) {
  const tms = await connect('tms_external', user);
  const reply = await tms.request({ type: 'Get', task_id: taskId, ...as(user).creds });
  tms.close();
  return reply;
}

describe('single-party tasks', () => {
  test('many rounds run on one connection', async () => {
    const tms = await connect('tms_external', 'alice');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await tms.request({ type: 'Create', function_name: 'echo', collaborator_list: [], files: [], ...as('alice').creds });
      ids.push(r.task_id);
    }
    const list = await tms.request({ type: 'List', ...as('alice').creds });
    assert.deepEqual(Object.keys(list), ['type', 'list']);
    for (const id of ids) assert.ok(list.list.includes(id));
    assert.equal(new Set(ids).size, 5);
    tms.close();
  });

  test('bytes_plus_one adds one to each byte, and Get goes Ready then Finished', async () => {
    const task = await createTask('alice', 'bytes_plus_one');
    assert.equal((await getTask('alice', task.task_id)).task_info.status, 'Ready');
    const fns = await connect('fns', 'alice');
    const reply = await fns.request({ task_id: task.task_id, function_name: 'bytes_plus_one', task_token: task.task_token, payload: 'abc' });
    assert.deepEqual(reply, { result: 'bcd' });
    assert.equal((await getTask('alice', task.task_id)).task_info.status, 'Finished');
    fns.close();
  });

  test('bytes_plus_one wraps 0xff and decodes lossily, as MesaTEE does', async () => {
    const task = await createTask('alice', 'bytes_plus_one');
    const fns = await connect('fns', 'alice');
    // "~\u007f" → bytes 0x7f 0x80; 0x80 alone is not UTF-8, so it becomes U+FFFD.
    const reply = await fns.request({ task_id: task.task_id, function_name: 'bytes_plus_one', task_token: task.task_token, payload: '~\u007f' });
    assert.deepEqual(reply, { result: '\u007f\ufffd' });
    fns.close();
  });

  test('a Ready task runs exactly once, even when invoked on many connections at once', async () => {
    const task = await createTask('alice', 'echo');
    const clients = await Promise.all(Array.from({ length: 6 }, () => connect('fns', 'alice')));
    const invoke = { task_id: task.task_id, function_name: 'echo', task_token: task.task_token, payload: 'x' };
    const replies = await Promise.all(clients.map((c) => c.request(invoke)));
    const wins = replies.filter((r) => r.result === 'x');
    const losses = replies.filter((r) => r.type === 'Error');
    assert.equal(wins.length, 1, JSON.stringify(replies));
    assert.equal(losses.length, 5);
    for (const l of losses) {
      assert.equal(l.kind, 'PermissionDenied');
      assert.match(l.message, /(Finished|Running), not Ready/);
    }
    for (const c of clients) c.close();
  });

  test('a function that throws leaves the task Failed, never Running', async () => {
    const task = await createTask('alice', 'echo');
    const fns = await connect('fns', 'alice');
    const reply = await fns.request({ task_id: task.task_id, function_name: 'echo', task_token: task.task_token, payload: null });
    assert.equal(reply.type, 'Error');
    assert.equal(reply.kind, 'MissingValue');
    assert.match(reply.message, /payload/);
    assert.equal((await getTask('alice', task.task_id)).task_info.status, 'Failed');
    // The connection is still usable after the error.
    const again = await fns.request({ task_id: task.task_id, function_name: 'echo', task_token: task.task_token, payload: 'late' });
    assert.equal(again.kind, 'PermissionDenied');
    fns.close();
  });

  test('collaborators named on a task can Get it, others cannot; nobody can approve a single-party task', async () => {
    const task = await createTask('alice', 'echo', ['bob']);
    const asBob = await getTask('bob', task.task_id);
    assert.equal(asBob.task_info.user_id, 'alice');
    assert.deepEqual(asBob.task_info.collaborator_list, [{ user_id: 'bob', approved: false }]);
    const asCarol = await getTask('carol', task.task_id);
    assert.equal(asCarol.kind, 'PermissionDenied');

    const tms = await connect('tms_external', 'bob');
    const update = await tms.request({ type: 'Update', task_id: task.task_id, files: ['f1'], ...as('bob').creds });
    assert.equal(update.kind, 'PermissionDenied');
    assert.match(update.message, /single-party/);
    tms.close();
  });

  test('FNS refuses an invoker who is not a participant, even with the right token', async () => {
    const task = await createTask('alice', 'echo');
    const fns = await connect('fns', 'carol');
    const reply = await fns.request({ task_id: task.task_id, function_name: 'echo', task_token: task.task_token, payload: 'x' });
    assert.equal(reply.kind, 'PermissionDenied');
    assert.match(reply.message, /not a participant/);
    assert.equal((await getTask('alice', task.task_id)).task_info.status, 'Ready', 'the refused invoke changed nothing');
    fns.close();
  });

  test('FNS checks the function name', async () => {
    const task = await createTask('alice', 'echo');
    const fns = await connect('fns', 'alice');
    const reply = await fns.request({ task_id: task.task_id, function_name: 'bytes_plus_one', task_token: task.task_token, payload: 'x' });
    assert.equal(reply.kind, 'PermissionDenied');
    assert.match(reply.message, /runs 'echo'/);
    fns.close();
  });

  test('an unknown function is refused at Create with the list of functions', async () => {
    const tms = await connect('tms_external', 'alice');
    const reply = await tms.request({ type: 'Create', function_name: 'nope', collaborator_list: [], files: [], ...as('alice').creds });
    assert.equal(reply.kind, 'FunctionNotSupportedError');
    assert.match(reply.message, /no function named 'nope'; available: bytes_plus_one, concat, decrypt, echo, echo_file/);
    tms.close();
  });
});

describe('TMS internal', () => {
  test('Get and Update with the node service identity, in the documented shapes', async () => {
    const task = await createTask('alice', 'echo', ['bob']);
    const internal = await connectService('tms_internal');
    const got = await internal.request({ type: 'Get', task_id: task.task_id });
    assert.deepEqual(Object.keys(got.task_info), [
      'user_id', 'collaborator_list', 'approved_user_number', 'function_name', 'function_type', 'status', 'ip', 'port',
      'task_token', 'input_files', 'output_files', 'task_result_file_id',
    ]);
    assert.equal(got.task_info.approved_user_number, 0);
    const update = await internal.request({
      type: 'Update',
      task_id: task.task_id,
      task_result_file_id: null,
      output_files: [{ user_id: 'bob', file_id: 'd18fb288-8fef-48c3-b800-201b2734882e' }],
      status: null,
    });
    assert.deepEqual(update, { type: 'Update', success: true });
    const bobView = await getTask('bob', task.task_id);
    assert.deepEqual(bobView.task_info.user_private_result_file_id, ['d18fb288-8fef-48c3-b800-201b2734882e']);
    const aliceView = await getTask('alice', task.task_id);
    assert.deepEqual(aliceView.task_info.user_private_result_file_id, []);
    assert.equal(aliceView.task_info.status, 'Ready', 'a null status leaves the status alone');

    const unknown = await internal.request({ type: 'Update', task_id: 'no-such-task', task_result_file_id: null, output_files: [], status: 'Failed' });
    assert.equal(await Promise.resolve(JSON.stringify(unknown)), '{"type":"Update","success":false}');
    internal.close();
  });

  test('a user certificate is refused on every internal listener', async () => {
    for (const listener of ['tms_internal', 'kms', 'tdfs_internal']) {
      const client = await connect(listener, 'alice');
      const reply = await client.receive();
      assert.equal(reply.type, 'Error', listener);
      assert.equal(reply.kind, 'PermissionDenied', listener);
      assert.match(reply.message, /services only/);
      await client.closed();
    }
  });
});

describe('users', () => {
  test('a removed user is refused on every listener, even on a connection opened before', async () => {
    const added = await tessera(['user', 'add', 'dave', '--data', node.dir]);
    assert.equal(added.code, 0, added.stderr);
    const dave = node.identity('dave');
    const creds = { user_id: 'dave', user_token: dave.token };
    const open = await WireClient.connect(node.ports.tms_external, { cert: dave.cert, key: dave.key, ca: node.ca });
    assert.equal((await open.request({ type: 'List', ...creds })).type, 'List');

    const removed = await tessera(['user', 'remove', 'dave', '--data', node.dir]);
    assert.equal(removed.code, 0, removed.stderr);
    const after = await open.request({ type: 'List', ...creds });
    assert.equal(after.kind, 'PermissionDenied');
    await open.closed();

    for (const listener of ['tms_external', 'fns', 'tdfs_external']) {
      const c = await WireClient.connect(node.ports[listener], { cert: dave.cert, key: dave.key, ca: node.ca });
      const reply = await c.receive();
      assert.equal(reply.kind, 'PermissionDenied', listener);
      assert.match(reply.message, /no current identity/);
      await c.closed();
    }
    // Someone else's certificate with the removed user's token is refused too.
    const tms = await connect('tms_external', 'alice');
    const viaAlice = await tms.request({ type: 'List', ...creds });
    assert.equal(viaAlice.kind, 'PermissionDenied');
    tms.close();
  });
});
