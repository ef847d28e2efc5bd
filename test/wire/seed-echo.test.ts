import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { type TestNode, startNode } from '../helpers/cli.js';

// The acceptance test, written as a bare Node TLS client with no project code:
// the seed document's echo Create, then its Invoke with payload "echo_payload".

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['user1'] });
});
after(() => node.cleanup());

function roundTrips(port: number, identity: { cert: string; key: string }, ca: string, messages: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const replies: string[] = [];
    let buffer = Buffer.alloc(0);
    const socket = tls.connect({ host: '127.0.0.1', port, cert: identity.cert, key: identity.key, ca: [ca], servername: 'localhost' }, () => {
      sendNext();
    });
    const sendNext = () => {
      const body = Buffer.from(messages[replies.length], 'utf8');
      const header = Buffer.alloc(8);
      header.writeBigUInt64BE(BigInt(body.length));
      socket.write(Buffer.concat([header, body]));
    };
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 8 && buffer.length >= 8 + Number(buffer.readBigUInt64BE(0))) {
        const len = Number(buffer.readBigUInt64BE(0));
        replies.push(buffer.subarray(8, 8 + len).toString('utf8'));
        buffer = buffer.subarray(8 + len);
        if (replies.length === messages.length) {
          socket.end();
          return resolve(replies);
        }
        sendNext();
      }
    });
    socket.on('error', reject);
  });
}

test('seed echo: TMS Create, FNS Invoke, TMS Get shows Finished', async () => {
  const user1 = node.identity('user1');
  const create = `{"type":"Create","function_name":"echo","collaborator_list":[],"files":[],"user_id":"user1","user_token":"${user1.token}"}`;
  const [createReply] = await roundTrips(node.ports.tms_external, user1, node.ca, [create]);
  const m = /^\{"type":"Create","task_id":"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})","task_token":"([0-9a-f]{32})","ip":"127\.0\.0\.1","port":(\d+)\}$/.exec(createReply);
  assert.ok(m, `Create reply not in the documented shape: ${createReply}`);
  const [, taskId, taskToken, port] = m;
  assert.equal(Number(port), node.ports.fns, 'the reply names the FNS port');

  const invoke = `{"task_id":"${taskId}","function_name":"echo","task_token":"${taskToken}","payload":"echo_payload"}`;
  const [invokeReply] = await roundTrips(Number(port), user1, node.ca, [invoke]);
  assert.equal(invokeReply, '{"result":"echo_payload"}');

  const get = `{"type":"Get","task_id":"${taskId}","user_id":"user1","user_token":"${user1.token}"}`;
  const [getReply] = await roundTrips(node.ports.tms_external, user1, node.ca, [get]);
  assert.equal(
    getReply,
    `{"type":"Get","task_info":{"user_id":"user1","function_name":"echo","function_type":"Single","status":"Finished","ip":"127.0.0.1","port":${port},"task_token":"${taskToken}","collaborator_list":[],"task_result_file_id":null,"user_private_result_file_id":[]}}`,
  );
});
