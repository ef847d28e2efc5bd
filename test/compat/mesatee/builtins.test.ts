import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../../helpers/cli.js';
import { builtinTasks } from '../../helpers/builtin-tasks.js';

// Each built-in run through the REST API on the originals' own vectors (see README.md here for where
// each file comes from: Apache Teaclave, commit ce4c75c9, Apache-2.0), compared with the original's
// expected output byte for byte, or to a stated tolerance for floating point.

// From dist/test/compat/mesatee/ back to the sources, where the data files live.
const vectors = new URL('../../../../test/compat/mesatee/', import.meta.url);
const vector = (path: string) => readFileSync(new URL(path, vectors));

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob', 'carol'], config: (c) => (c.log.level = 'warn') });
});
after(() => node.cleanup());

const tasks = builtinTasks(() => node);
const { upload, download } = tasks;

/** A task that must succeed: its result, and each user's private result files. */
async function run(fn: string, opts: Parameters<typeof tasks.run>[1]) {
  const r = await tasks.run(fn, opts);
  assert.equal(r.status, 200, r.body);
  const privateResults = async (user: string): Promise<string[]> => (await r.view(user)).user_private_result_file_id;
  return { result: r.result, privateResults };
}

describe('Teaclave vectors', () => {
  test('logistic_regression_train: expected_model.txt, parameters within 1e-15 (observed 2.2e-16)', async () => {
    // Teaclave's unit test: alg_alpha 0.3, alg_iters 100, feature_size 30 on train.txt.
    const r = await run('logistic_regression_train', { files: [await upload('alice', vector('logistic_regression_train/train.txt'))], payload: JSON.stringify({ alg_alpha: 0.3, alg_iters: 100, feature_size: 30 }) });
    assert.equal(r.result, 'Trained 100 lines of data.');
    const got = JSON.parse((await download('alice', (await r.privateResults('alice'))[0])).toString());
    const expected = JSON.parse(vector('logistic_regression_train/expected_model.txt').toString());
    assert.deepEqual(Object.keys(got), ['alpha', 'iters', 'parameters'], 'the same fields in the same order');
    assert.equal(got.alpha, expected.alpha);
    assert.equal(got.iters, expected.iters);
    assert.equal(got.parameters.length, expected.parameters.length);
    const worst = Math.max(...got.parameters.map((p: number, i: number) => Math.abs(p - expected.parameters[i])));
    assert.ok(worst <= 1e-15, `largest parameter difference ${worst}`);
  });

  test('private_join_and_compute: the three banks, and a repeated id keeps its last amount', async () => {
    // bank_a, bank_b and bank_c share c and e: c = 30000 + 40000 + 400000, e = 5000000 + 3000 + 30000.
    // Teaclave's unit test only checks that every party gets the same file; the sums follow from its
    // code. Output lines are v0.1's "{id} : {sum}", sorted by id (see docs/files-and-tasks.md).
    const r = await run('private_join_and_compute', {
      files: [await upload('alice', vector('private_join_and_compute/bank_a.txt'))],
      collaborators: [['bob', await upload('bob', vector('private_join_and_compute/bank_b.txt'))], ['carol', await upload('carol', vector('private_join_and_compute/bank_c.txt'))]],
    });
    assert.equal(r.result, 'Finished');
    for (const user of ['alice', 'bob', 'carol']) {
      assert.equal((await download(user, (await r.privateResults(user))[0])).toString(), 'c : 470000\ne : 5033000\n', user);
    }
    // v0.1 and Teaclave insert each line into a map, so the last amount for an id in one file counts.
    const dup = await run('private_join_and_compute', { files: [await upload('alice', 'a:1\na:2\n')], collaborators: [['bob', await upload('bob', 'a:10\n')]] });
    assert.equal((await download('alice', (await dup.privateResults('alice'))[0])).toString(), 'a : 12\n');
  });

  test('ordered_set_intersect: psi0/psi1 give 0101010 / 01101 and "3 common items"; repeats match once', async () => {
    const r = await run('ordered_set_intersect', {
      files: [await upload('alice', vector('ordered_set_intersect/psi0.txt'))],
      collaborators: [['bob', await upload('bob', vector('ordered_set_intersect/psi1.txt'))]],
      payload: JSON.stringify({ order: 'ascending' }),
    });
    assert.equal(r.result, '3 common items');
    assert.equal((await download('alice', (await r.privateResults('alice'))[0])).toString(), '0101010');
    assert.equal((await download('bob', (await r.privateResults('bob'))[0])).toString(), '01101');

    // Teaclave's merge consumes one line per side per match.
    const dup = await run('ordered_set_intersect', { files: [await upload('alice', 'aa\naa\nbb\n')], collaborators: [['bob', await upload('bob', 'aa\nbb\n')]], payload: JSON.stringify({ order: 'ascending' }) });
    assert.equal(dup.result, '2 common items');
    assert.equal((await download('alice', (await dup.privateResults('alice'))[0])).toString(), '101');
    assert.equal((await download('bob', (await dup.privateResults('bob'))[0])).toString(), '11');
  });

  test('password_check: password.txt is among exposed_passwords.txt; the lines are trimmed', async () => {
    const exposed = await upload('alice', vector('password_check/exposed_passwords.txt'));
    assert.equal((await run('password_check', { files: [await upload('alice', vector('password_check/password.txt')), exposed] })).result, 'true');
    // Teaclave trims the password line (and each exposed line).
    assert.equal((await run('password_check', { files: [await upload('alice', ' \tpassword  \r\n'), exposed] })).result, 'true');
    assert.equal((await run('password_check', { files: [await upload('alice', 'pass word\n'), exposed] })).result, 'false');
  });
});
