import assert from 'node:assert/strict';
import { createCipheriv, createHash, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { builtinTasks } from '../helpers/builtin-tasks.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'], config: (c) => (c.log.level = 'warn') });
});
after(() => node.cleanup());

const { upload, download, run } = builtinTasks(() => node);

describe('single-party built-ins on files', () => {
  test('echo_file returns the content of the file named by the payload', async () => {
    const f = await upload('alice', 'file content ✓');
    assert.equal((await run('echo_file', { payload: f })).result, 'file content ✓');
  });

  test("echo_file refuses a file the creator may not read", async () => {
    const bobs = await upload('bob', 'secret');
    const r = await run('echo_file', { payload: bobs });
    assert.equal(r.status, 403);
    assert.match(r.error!.message, /may not read it/);
  });

  test('file_bytes_plus_one adds one to each byte of the file', async () => {
    const f = await upload('alice', 'abc');
    assert.equal((await run('file_bytes_plus_one', { payload: f })).result, 'bcd');
  });

  test('password_check says whether the first line of the password file is exposed', async () => {
    const exposed = await upload('alice', '123456\npassword\nhunter2\n');
    assert.equal((await run('password_check', { files: [await upload('alice', 'hunter2\n'), exposed] })).result, 'true');
    assert.equal((await run('password_check', { files: [await upload('alice', 'correct horse\nhunter2\n'), exposed] })).result, 'false');
    const missing = await run('password_check', { files: [exposed] });
    assert.equal(missing.status, 400);
    assert.match(missing.error!.message, /password_check takes 2 input file\(s\) \(password, exposed_passwords\); the task has 1/);
  });

  test('rsa_sign signs the base64 payload with a PKCS#1 DER key: RSASSA-PKCS1-v1_5 / SHA-256', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = await upload('alice', privateKey.export({ format: 'der', type: 'pkcs1' }) as Buffer);
    const data = Buffer.from('sign me');
    const r = await run('rsa_sign', { files: [key], payload: data.toString('base64') });
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.ok(verify('sha256', data, publicKey, Buffer.from(r.result, 'base64')), 'the signature verifies');
    const notKey = await run('rsa_sign', { files: [await upload('alice', 'not a key')], payload: 'AAAA' });
    assert.match(notKey.error!.message, /not a PKCS#1 DER RSA private key/);
  });

  test('online_decrypt decrypts AES-GCM (128 and 256) with the first 12 nonce bytes and no AAD', async () => {
    for (const [algorithm, bytes] of [['aes256gcm', 32], ['aes128gcm', 16]] as const) {
      const key = randomBytes(bytes);
      const nonce = randomBytes(16);
      const cipher = createCipheriv(algorithm === 'aes256gcm' ? 'aes-256-gcm' : 'aes-128-gcm', key, nonce.subarray(0, 12));
      const sealed = Buffer.concat([cipher.update('Hello Teaclave!'), cipher.final(), cipher.getAuthTag()]);
      const payload = JSON.stringify({ key: key.toString('base64'), nonce: nonce.toString('base64'), encrypted_data: sealed.toString('base64'), algorithm });
      assert.equal((await run('online_decrypt', { payload })).result, 'Hello Teaclave!', algorithm);
    }
    const wrongKey = await run('online_decrypt', { payload: JSON.stringify({ key: randomBytes(32).toString('base64'), nonce: randomBytes(12).toString('base64'), encrypted_data: randomBytes(40).toString('base64'), algorithm: 'aes256gcm' }) });
    assert.equal(wrongKey.status, 400);
    assert.match(wrongKey.error!.message, /tag does not verify/);
    const badAlg = await run('online_decrypt', { payload: JSON.stringify({ key: 'AA==', nonce: 'AA==', encrypted_data: 'AA==', algorithm: 'des' }) });
    assert.match(badAlg.error!.message, /algorithm must be equal to one of the allowed values/);
  });
});

describe('multi-party built-ins', () => {
  test('concat joins the files in input order: "abcdefg" + "faas"', async () => {
    const r = await run('concat', { files: [await upload('alice', 'abcdefg')], collaborators: [['bob', await upload('bob', 'faas')]] });
    assert.equal(r.result, 'abcdefgfaas');
  });

  test("swap_file gives each owner the other's file and everyone both", async () => {
    const r = await run('swap_file', { files: [await upload('alice', 'ALICE')], collaborators: [['bob', await upload('bob', 'BOB')]] });
    const aliceView = await r.view('alice');
    const bobView = await r.view('bob');
    assert.equal(aliceView.task_result_file_id, r.result, 'the return value is the shared file');
    assert.equal(bobView.task_result_file_id, r.result);
    assert.equal((await download('alice', r.result)).toString(), 'ALICEBOB');
    assert.equal((await download('bob', r.result)).toString(), 'ALICEBOB');
    assert.equal((await download('alice', aliceView.user_private_result_file_id[0])).toString(), 'BOB');
    assert.equal((await download('bob', bobView.user_private_result_file_id[0])).toString(), 'ALICE');
  });

  test('private_join_and_compute sums amounts over the identities in every file', async () => {
    const a = await upload('alice', 'a:10\nb:20\nc:30\n');
    const b = await upload('bob', 'c : 7\nb:5\nd:1\nx\nbad:line:here\ne:notnum\nf:-1\n');
    const r = await run('private_join_and_compute', { files: [a], collaborators: [['bob', b]] });
    assert.equal(r.result, 'Finished');
    for (const user of ['alice', 'bob']) {
      const out = (await r.view(user)).user_private_result_file_id;
      assert.equal(out.length, 1, user);
      assert.equal((await download(user, out[0])).toString(), 'b : 25\nc : 37\n');
    }
  });

  test('ordered_set_intersect marks shared hashes with ASCII 0/1 and counts them', async () => {
    const h = (s: string) => createHash('sha256').update(s).digest('hex');
    const mine = ['a', 'b', 'c', 'e'].map(h).sort();
    const theirs = ['b', 'c', 'd'].map(h).sort();
    const r = await run('ordered_set_intersect', { files: [await upload('alice', mine.join('\n') + '\n')], collaborators: [['bob', await upload('bob', theirs.join('\n'))]] });
    assert.equal(r.result, '2 common items');
    const expect = (list: string[], other: string[]) => list.map((x) => (other.includes(x) ? '1' : '0')).join('');
    assert.equal((await download('alice', (await r.view('alice')).user_private_result_file_id[0])).toString(), expect(mine, theirs));
    assert.equal((await download('bob', (await r.view('bob')).user_private_result_file_id[0])).toString(), expect(theirs, mine));

    const unsorted = await run('ordered_set_intersect', { files: [await upload('alice', [...mine].reverse().join('\n'))], collaborators: [['bob', await upload('bob', theirs.join('\n'))]] });
    assert.equal(unsorted.status, 400);
    assert.match(unsorted.error!.message, /input_data1 is not sorted/);
    const descending = await run('ordered_set_intersect', {
      files: [await upload('alice', [...mine].reverse().join('\n'))],
      collaborators: [['bob', await upload('bob', [...theirs].reverse().join('\n'))]],
      payload: JSON.stringify({ order: 'desending' }),
    });
    assert.equal(descending.result, '2 common items');
  });
});

describe('learning built-ins', () => {
  // y = 3·x0 − 2·x1 + 1 on a grid: learnable by both trees and (thresholded) logistic regression.
  const grid: number[][] = [];
  for (let i = 0; i < 12; i++) for (let j = 0; j < 12; j++) grid.push([i / 11, j / 11]);
  const linear = (x: number[]) => 3 * x[0] - 2 * x[1] + 1;

  test('gbdt_train saves a model for the creator and returns its id; gbdt_predict gives 10 decimals per line', async () => {
    const training = await upload('alice', grid.map((x) => `${x.join(',')},${linear(x)}`).join('\n'));
    const args = { gbdt_train_feature_size: 2, gbdt_train_max_depth: 4, gbdt_train_iterations: 40, gbdt_train_shrinkage: 0.3, gbdt_train_feature_sample_ratio: 1, gbdt_train_data_sample_ratio: 1, gbdt_train_min_leaf_size: 1, gbdt_train_loss: 'SquaredError', gbdt_train_training_optimization_level: 2 };
    const trained = await run('gbdt_train', { files: [training], payload: JSON.stringify(args) });
    assert.equal(trained.status, 200, JSON.stringify(trained.error));
    assert.deepEqual((await trained.view('alice')).user_private_result_file_id, [trained.result], 'the returned id is the creator’s model');

    const samples = [[0.1, 0.9], [0.5, 0.5], [0.95, 0.05]];
    const predicted = await run('gbdt_predict', { files: [trained.result], payload: samples.map((s) => s.join(',')).join('\n') });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.error));
    const lines = predicted.result.split('\n');
    assert.equal(lines.pop(), '', 'every prediction ends with a newline');
    assert.equal(lines.length, 3);
    lines.forEach((l, i) => {
      assert.match(l, /^-?\d+\.\d{10}$/);
      assert.ok(Math.abs(Number(l) - linear(samples[i])) < 0.35, `prediction ${l} for ${samples[i]} is far from ${linear(samples[i])}`);
    });

    const wrongWidth = await run('gbdt_predict', { files: [trained.result], payload: '1,2,3' });
    assert.match(wrongWidth.error!.message, /the model takes 2 features; the data has 3/);
    const badCsv = await run('gbdt_train', { files: [await upload('alice', '1,2,x\n')], payload: JSON.stringify(args) });
    assert.match(badCsv.error!.message, /line 1, column 3 is not a number: 'x'/);
  });

  test('logistic_regression_train and _predict: Teaclave model format, 4-decimal probabilities', async () => {
    const labelled = grid.map((x) => `${x.join(',')},${linear(x) > 1.5 ? 1 : 0}`).join('\n');
    const trained = await run('logistic_regression_train', { files: [await upload('alice', labelled)], payload: JSON.stringify({ alg_alpha: 2, alg_iters: 3000, feature_size: 2 }) });
    assert.equal(trained.status, 200, JSON.stringify(trained.error));
    assert.equal(trained.result, `Trained ${grid.length} lines of data.`);
    const modelId = (await trained.view('alice')).user_private_result_file_id[0];
    const model = JSON.parse((await download('alice', modelId)).toString());
    assert.deepEqual(Object.keys(model), ['alpha', 'iters', 'parameters']);
    assert.equal(model.parameters.length, 3, 'intercept and one weight per feature');

    const data = await upload('alice', '1,0\n0,1\n0.9,0.1\n');
    const predicted = await run('logistic_regression_predict', { files: [modelId, data] });
    assert.equal(predicted.result, 'Predicted 3 lines of data.');
    const out = (await download('alice', (await predicted.view('alice')).user_private_result_file_id[0])).toString().split('\n');
    assert.equal(out.pop(), '');
    out.forEach((l) => assert.match(l, /^[01]\.\d{4}$/));
    const [p1, p2, p3] = out.map(Number);
    assert.ok(p1 > 0.8 && p3 > 0.7, `positives scored ${p1}, ${p3}`);
    assert.ok(p2 < 0.2, `negative scored ${p2}`);
  });
});
