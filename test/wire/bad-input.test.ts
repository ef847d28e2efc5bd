import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createCertificateAuthority, issueCertificate } from '../../src/crypto/certificates.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { WireClient, frame } from '../helpers/wire-client.js';

const LISTENERS = ['tms_external', 'tms_internal', 'fns', 'kms', 'tdfs_external', 'tdfs_internal'];
const INTERNAL = new Set(['tms_internal', 'kms', 'tdfs_internal']);

let node: TestNode;
before(async () => {
  node = await startNode({
    users: ['alice', 'bob'],
    config: (c) => {
      c.wire.frame_timeout_ms = 400;
    },
  });
});
after(() => node.cleanup());

const alice = () => node.identity('alice');
const creds = (name = 'alice') => ({ user_id: name, user_token: node.identity(name).token });
/** A client for `listener` with an identity it accepts: the node's service cert inside, alice outside. */
const client = (listener: string) => {
  const id = INTERNAL.has(listener) ? node.service : alice();
  return WireClient.connect(node.ports[listener], { cert: id.cert, key: id.key, ca: node.ca });
};

/** The node still serves: `user` runs a full echo task on fresh connections. */
async function servesTask(user: string) {
  const id = node.identity(user);
  const tms = await WireClient.connect(node.ports.tms_external, { cert: id.cert, key: id.key, ca: node.ca });
  const task = await tms.request({ type: 'Create', function_name: 'echo', collaborator_list: [], files: [], ...creds(user) });
  assert.equal(task.type, 'Create', JSON.stringify(task));
  tms.close();
  const fns = await WireClient.connect(node.ports.fns, { cert: id.cert, key: id.key, ca: node.ca });
  assert.deepEqual(await fns.request({ task_id: task.task_id, function_name: 'echo', task_token: task.task_token, payload: 'ok' }), { result: 'ok' });
  fns.close();
}
/** As a test body: node:test passes its context as the first argument. */
const assertStillServing = () => servesTask('alice');

function assertError(reply: any, kind: string, pattern: RegExp) {
  assert.ok(reply, 'expected an error frame, got a closed connection');
  assert.deepEqual(Object.keys(reply), ['type', 'kind', 'message']);
  assert.equal(reply.type, 'Error');
  assert.equal(reply.kind, kind, reply.message);
  assert.match(reply.message, pattern);
}

describe('framing, on every listener', () => {
  for (const listener of LISTENERS) {
    test(`${listener}: a frame longer than the maximum is refused before it is read`, async () => {
      const c = await client(listener);
      const header = Buffer.alloc(8);
      header.writeBigUInt64BE(4n * 1024n * 1024n + 1n);
      c.sendRaw(header);
      assertError(await c.receive(), 'MsgSizeLimitExceedError', /declares 4194305 bytes; the limit is 4194304/);
      await c.closed();

      const huge = await client(listener);
      const max = Buffer.alloc(8);
      max.writeBigUInt64BE(0xffffffffffffffffn);
      huge.sendRaw(max);
      assertError(await huge.receive(), 'MsgSizeLimitExceedError', /18446744073709551615 bytes/);
      await huge.closed();
    });

    test(`${listener}: a truncated frame gets an error`, async () => {
      const c = await client(listener);
      const header = Buffer.alloc(8);
      header.writeBigUInt64BE(100n);
      c.sendRaw(Buffer.concat([header, Buffer.from('{"type":')]));
      c.socket.end();
      assertError(await c.receive(), 'ParseError', /truncated frame: the connection ended after 16 of 108 bytes/);

      const short = await client(listener);
      short.sendRaw(Buffer.from([0, 0, 0]));
      short.socket.end();
      assertError(await short.receive(), 'ParseError', /after 3 of at least 8 bytes/);
    });

    test(`${listener}: a frame that stalls halfway times out`, async () => {
      const c = await client(listener);
      const header = Buffer.alloc(8);
      header.writeBigUInt64BE(50n);
      c.sendRaw(Buffer.concat([header, Buffer.from('{')]));
      assertError(await c.receive(), 'IoError', /incomplete frame: 9 bytes arrived.*frame_timeout_ms/);
      await c.closed();
    });

    test(`${listener}: a frame dripped a byte at a time is cut at frame_timeout_ms after its first byte, not kept alive by each byte`, async () => {
      const c = await client(listener);
      const header = Buffer.alloc(8);
      header.writeBigUInt64BE(1000n);
      const started = performance.now();
      c.sendRaw(header);
      // A byte every 100 ms, each well inside the 400 ms limit: only a deadline from the first byte ends this.
      const drip = setInterval(() => c.sendRaw(Buffer.from(' ')), 100);
      try {
        // The bystander: while alice's frame drips (or just after it is cut), bob's task runs.
        await servesTask('bob');
        assertError(await c.receive(), 'IoError', /incomplete frame: \d+ bytes arrived, but a frame must arrive whole within 400 ms of its first byte/);
      } finally {
        clearInterval(drip);
      }
      assert.ok(performance.now() - started < 5000, 'cut off, not kept alive by the drip');
      await c.closed();
    });

    test(`${listener}: a frame that is not JSON gets ParseError and the connection stays usable`, async () => {
      const c = await client(listener);
      c.sendRaw(frame(Buffer.from('{"type":"Get",')));
      assertError(await c.receive(), 'ParseError', /not valid JSON/);
      c.sendRaw(frame(Buffer.from([0xff, 0xfe, 0x00])));
      assertError(await c.receive(), 'ParseError', /not valid JSON/);
      // Still in sync: a well-framed request gets its own (validation) answer.
      assertError(await c.request({ type: 'Nope' }), 'InvalidInputError', /.+/);
      c.close();
    });

    test(`${listener}: no client certificate is refused with a readable error`, async () => {
      const c = await WireClient.connect(node.ports[listener], { ca: node.ca });
      c.send({ type: 'List', ...creds() });
      assertError(await c.receive(), 'PermissionDenied', /client certificate issued by this node's CA is required/);
      await c.closed();
    });

    test(`${listener}: a certificate from another CA is refused`, async () => {
      const otherCa = await createCertificateAuthority('Mallory CA');
      const forged = await issueCertificate(otherCa, { name: INTERNAL.has(listener) ? 'node' : 'alice', role: INTERNAL.has(listener) ? 'service' : 'user' });
      const c = await WireClient.connect(node.ports[listener], { cert: forged.certPem, key: forged.keyPem, ca: node.ca });
      assertError(await c.receive(), 'PermissionDenied', /issued by this node's CA is required \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
      await c.closed();
    });
  }

  test('after every framing attack, the node still serves', assertStillServing);
});

describe('message validation', () => {
  const cases: Array<[string, string, unknown, string, RegExp]> = [
    ['tms_external', 'an array', [1, 2], 'InvalidInputError', /must be a JSON object with a "type" key \(Create, Get, Update, List\)/],
    ['tms_external', 'a bare string', 'Create', 'InvalidInputError', /must be a JSON object/],
    ['tms_external', 'no type', { task_id: 'x' }, 'InvalidInputError', /needs a string "type": one of Create, Get, Update, List/],
    ['tms_external', 'an unknown type', { type: 'Destroy', task_id: 'x' }, 'InvalidInputError', /unknown TMS request type 'Destroy'; expected one of Create, Get, Update, List/],
    ['tms_external', 'a missing key', { type: 'Get', task_id: 'x', user_id: 'alice' }, 'InvalidInputError', /malformed TMS Get request: the message is missing 'user_token'/],
    ['tms_external', 'an extra key', { type: 'List', user_id: 'alice', user_token: 't', admin: true }, 'InvalidInputError', /unexpected key 'admin'/],
    ['tms_external', 'files as a string', { type: 'Create', function_name: 'echo', collaborator_list: [], files: 'f', user_id: 'a', user_token: 't' }, 'InvalidInputError', /'files' must be array/],
    ['tms_external', 'a numeric file id', { type: 'Create', function_name: 'echo', collaborator_list: [], files: [7], user_id: 'a', user_token: 't' }, 'InvalidInputError', /'files\.0' must be string/],
    ['tms_external', 'a null user_id', { type: 'List', user_id: null, user_token: 't' }, 'InvalidInputError', /'user_id' must be string/],
    ['fns', 'a numeric payload', { task_id: 'x', function_name: 'echo', task_token: 't', payload: 42 }, 'InvalidInputError', /'payload' must be string,null/],
    ['fns', 'a missing payload', { task_id: 'x', function_name: 'echo', task_token: 't' }, 'InvalidInputError', /missing 'payload'/],
    ['tms_internal', 'a bad status', { type: 'Update', task_id: 'x', task_result_file_id: null, output_files: [], status: 'Done' }, 'InvalidInputError', /'status' must be equal to one of the allowed values/],
    // Found by the fuzz test (a random seed): an empty task_id was answered with a bare 'no task '.
    ['tms_internal', 'an empty task_id', { type: 'Get', task_id: '' }, 'MissingValue', /no task: the task_id is empty; give the id Create returned/],
    ['tms_internal', 'an output file without file_id', { type: 'Update', task_id: 'x', task_result_file_id: null, output_files: [{ user_id: 'a' }], status: null }, 'InvalidInputError', /'output_files\.0' is missing 'file_id'/],
    ['kms', 'an extra key on Create', { type: 'Create', enc_type: 'aes' }, 'InvalidInputError', /unexpected key 'enc_type'/],
    ['tdfs_external', 'a negative file_size', { type: 'Create', file_name: 'f', sha256: 'x', file_size: -1, user_id: 'a', user_token: 't' }, 'InvalidInputError', /'file_size' must be >= 0/],
    ['tdfs_external', 'a string file_size', { type: 'Create', file_name: 'f', sha256: 'x', file_size: '128', user_id: 'a', user_token: 't' }, 'InvalidInputError', /'file_size' must be integer/],
    ['tdfs_internal', 'a fractional allow_policy', { type: 'Create', sha256: 'x', file_size: 1, user_id: 'a', task_id: 't', collaborator_list: [], allow_policy: 1.5 }, 'InvalidInputError', /'allow_policy' must be integer/],
  ];
  for (const [listener, what, message, kind, pattern] of cases) {
    test(`${listener}: ${what} gets ${kind}, and the connection stays usable`, async () => {
      const c = await client(listener);
      assertError(await c.request(message), kind, pattern);
      assertError(await c.request(message), kind, pattern);
      c.close();
    });
  }

  test('the seed documents\' KMS and TDFS messages are accepted in their exact shape', async () => {
    const accepted: Array<[string, unknown]> = [
      ['kms', { type: 'Create' }],
      ['kms', { type: 'Get', key_id: 'c26ada76-8557-11e9-8002-020203040506' }],
      ['kms', { type: 'Delete', key_id: 'c26ada76-8557-11e9-8002-020203040506' }],
      ['tdfs_external', { type: 'Create', file_name: 'file', sha256: '233b51fc70dcc0c0ecb4e6ed9dc32d4c421a54859d069ec87fa836cf8c8aeb44', file_size: 128, ...creds() }],
      ['tdfs_external', { type: 'Get', file_id: 'd18fb288-8fef-48c3-b800-201b2734882e', ...creds() }],
      ['tdfs_external', { type: 'List', ...creds() }],
      ['tdfs_external', { type: 'Delete', file_id: 'd18fb288-8fef-48c3-b800-201b2734882e', ...creds() }],
      ['tdfs_internal', { type: 'Create', sha256: '85f90dfea1d8027e1463e5ca971a250110a20df0119d204a74220bc63516d15b', file_size: 3, user_id: 'user2', task_id: '5ef0cfc7-11e9-445a-8c46-23790ea86819', collaborator_list: [], allow_policy: 0 }],
      ['tdfs_internal', { type: 'Get', file_id: 'b76f9ee2-63d2-43bd-a722-466792af7035' }],
    ];
    for (const [listener, message] of accepted) {
      const c = await client(listener);
      const reply = await c.request(message);
      // Accepted: either the documented reply, or an answer about the (made-up) ids, never about the shape.
      if (reply.type === 'Error') assert.equal(reply.kind, 'MissingValue', `${listener} ${JSON.stringify(message)}: ${reply.message}`);
      else assert.equal(reply.type, (message as { type: string }).type);
      c.close();
    }
  });
});

describe('authentication and authorization', () => {
  test('an unknown user and a wrong token get the same PermissionDenied, and the connection stays usable', async () => {
    const svc = await WireClient.connect(node.ports.tms_external, { cert: node.service.cert, key: node.service.key, ca: node.ca });
    assertError(await svc.request({ type: 'List', user_id: 'mallory', user_token: 'x' }), 'PermissionDenied', /unknown user 'mallory' or wrong token/);
    assertError(await svc.request({ type: 'List', user_id: 'alice', user_token: 'wrong' }), 'PermissionDenied', /unknown user 'alice' or wrong token/);
    assert.equal((await svc.request({ type: 'List', ...creds() })).type, 'List', 'a service may act for a user who gives their token');
    svc.close();
  });

  test("a user's certificate cannot be used with another user's id and token", async () => {
    const c = await client('tms_external');
    assertError(await c.request({ type: 'List', ...creds('bob') }), 'PermissionDenied', /certificate belongs to 'alice' but the request names user_id 'bob'/);
    c.close();
  });

  test("someone else's task, and a wrong task token, are refused and change nothing", async () => {
    const tms = await client('tms_external');
    const task = await tms.request({ type: 'Create', function_name: 'echo', collaborator_list: [], files: [], ...creds() });
    const bob = node.identity('bob');
    const asBob = await WireClient.connect(node.ports.tms_external, { cert: bob.cert, key: bob.key, ca: node.ca });
    assertError(await asBob.request({ type: 'Get', task_id: task.task_id, ...creds('bob') }), 'PermissionDenied', /is not yours/);
    asBob.close();

    const bobFns = await WireClient.connect(node.ports.fns, { cert: bob.cert, key: bob.key, ca: node.ca });
    assertError(await bobFns.request({ task_id: task.task_id, function_name: 'echo', task_token: task.task_token, payload: 'x' }), 'PermissionDenied', /not a participant/);
    bobFns.close();

    const fns = await client('fns');
    const wrongToken = 'f'.repeat(32);
    assertError(await fns.request({ task_id: task.task_id, function_name: 'echo', task_token: wrongToken, payload: 'x' }), 'PermissionDenied', /with that task_token/);
    assertError(await fns.request({ task_id: task.task_id, function_name: 'echo', task_token: 'short', payload: 'x' }), 'PermissionDenied', /with that task_token/);
    assertError(await fns.request({ task_id: '00000000-0000-4000-8000-000000000000', function_name: 'echo', task_token: task.task_token, payload: 'x' }), 'PermissionDenied', /with that task_token/);
    fns.close();

    const get = await tms.request({ type: 'Get', task_id: task.task_id, ...creds() });
    assert.equal(get.task_info.status, 'Ready', 'none of the refused requests touched the task');
    assertError(await tms.request({ type: 'Get', task_id: 'no-such-task', ...creds() }), 'MissingValue', /no task no-such-task/);
    tms.close();
  });

  test('after every refused request, the node still serves', assertStillServing);
});

describe('TLS renegotiation', () => {
  for (const [name, port] of [['wire (tms_external)', () => node.ports.tms_external], ['https', () => node.ports.https]] as const) {
    test(`${name}: a TLS 1.2 client cannot renegotiate, so a connection keeps the certificate it opened with`, async () => {
      const { connect } = await import('node:tls');
      const id = alice();
      const socket = connect({ host: '127.0.0.1', port: port(), cert: id.cert, key: id.key, ca: node.ca, servername: 'localhost', maxVersion: 'TLSv1.2' });
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      const outcome = await new Promise<string>((resolve) => {
        socket.once('error', (err) => resolve(`error: ${err.message}`));
        socket.once('close', () => resolve('closed'));
        const started = socket.renegotiate({ rejectUnauthorized: true }, (err) => resolve(err ? `error: ${err.message}` : 'renegotiated'));
        if (!started) resolve('refused locally');
      });
      socket.destroy();
      assert.notEqual(outcome, 'renegotiated');
      await assertStillServing();
    });
  }
});
