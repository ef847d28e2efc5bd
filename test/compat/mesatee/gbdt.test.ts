import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DecisionTreeRegression } from 'ml-cart';
import { REPO, type TestNode, startNode } from '../../helpers/cli.js';
import { builtinTasks } from '../../helpers/builtin-tasks.js';

// gbdt_train and gbdt_predict on the originals' vectors (README.md here names each file's origin), through
// the REST API: the model gbdt-rs wrote is the model Tessera writes, and predictions match to the byte.

const vector = (file: string) => readFileSync(join(REPO, 'test/compat/mesatee/gbdt', file), 'utf8');

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.log.level = 'warn') });
});
after(() => node.cleanup());

const tasks = builtinTasks(() => node);
const upload = (content: string) => tasks.upload('alice', content);
const download = async (fileId: string) => (await tasks.download('alice', fileId)).toString();
const run = (fn: string, files: string[], payload: unknown = null) =>
  tasks.run(fn, { files, payload: payload === null || typeof payload === 'string' ? payload : JSON.stringify(payload) });

// Teaclave's function/src/gbdt_train.rs test arguments
const TEACLAVE_ARGS = {
  feature_size: 4,
  max_depth: 4,
  iterations: 100,
  shrinkage: 0.1,
  feature_sample_ratio: 1.0,
  data_sample_ratio: 1.0,
  min_leaf_size: 1,
  loss: 'LAD',
  training_optimization_level: 2,
};
// late MesaTEE's examples/gbdt/gbdt_demo.sh, under its payload's names
const MESATEE_ARGS = Object.fromEntries(Object.entries(TEACLAVE_ARGS).map(([k, v]) => [`gbdt_train_${k}`, v]));

describe('gbdt_train (Teaclave gbdt_training fixture, late MesaTEE examples/gbdt)', () => {
  test("Teaclave's arguments: its summary, and a model identical to expected_model.txt byte for byte", async () => {
    const r = await run('gbdt_train', [await upload(vector('train.txt'))], TEACLAVE_ARGS);
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.equal(r.result, 'Trained 120 lines of data.');
    const [model] = (await r.view()).user_private_result_file_id;
    assert.equal(await download(model), vector('expected_model.txt'));
  });

  test("late MesaTEE's gbdt_train_* names: the model's file id, the same model, and gbdt_demo.sh's predictions", async () => {
    const trained = await run('gbdt_train', [await upload(vector('train.txt'))], MESATEE_ARGS);
    assert.equal(trained.status, 200, JSON.stringify(trained.error));
    assert.deepEqual((await trained.view()).user_private_result_file_id, [trained.result], 'the result is the model’s file id');
    assert.equal(await download(trained.result), vector('expected_model.txt'));
    const predicted = await run('gbdt_predict', [trained.result, await upload(vector('test_data.txt'))]);
    assert.equal(predicted.status, 200, JSON.stringify(predicted.error));
    // gbdt_demo.sh compares through `echo`, which drops the expected file's blank last line
    assert.equal(predicted.result, vector('late_expected_result.txt').replace(/\n+$/, '\n'));
  });

  test('SquaredError and LogLikelyhood train too; predictions fit the training data', async () => {
    const rows = Array.from({ length: 60 }, (_, i) => [i % 10, Math.floor(i / 10)]);
    const csv = (label: (x: number[]) => number) => rows.map((x) => `${x.join(',')},${label(x)}`).join('\n');
    const base = { ...TEACLAVE_ARGS, feature_size: 2, iterations: 30, shrinkage: 0.5 };
    const squared = await run('gbdt_train', [await upload(csv((x) => x[0] + 2 * x[1]))], { ...base, loss: 'SquaredError' });
    assert.equal(squared.status, 200, JSON.stringify(squared.error));
    const squaredModel = (await squared.view()).user_private_result_file_id[0];
    const p = await run('gbdt_predict', [squaredModel], '3,4\n9,0');
    assert.equal(p.status, 200, JSON.stringify(p.error));
    const [a, b] = p.result.trim().split('\n').map(Number);
    assert.ok(Math.abs(a - 11) < 0.5 && Math.abs(b - 9) < 0.5, `${a}, ${b}`);
    assert.equal(JSON.parse(await download(squaredModel)).conf.loss, 'SquaredError');

    // gbdt-rs's LogLikelyhood takes labels -1/1 and predicts 1 / (1 + e^(-2f))
    const logistic = await run('gbdt_train', [await upload(csv((x) => (x[0] > 4 ? 1 : -1)))], { ...base, loss: 'LogLikelyhood' });
    assert.equal(logistic.status, 200, JSON.stringify(logistic.error));
    const q = await run('gbdt_predict', [(await logistic.view()).user_private_result_file_id[0]], '8,2\n1,2');
    const [high, low] = q.result.trim().split('\n').map(Number);
    assert.ok(high > 0.9 && low < 0.1, `${high}, ${low}`);
  });
});

describe('gbdt_predict (v0.1 examples/ml_predict, Teaclave gbdt_prediction fixture)', () => {
  test("v0.1's gbdt.model with the samples as the payload gives ml_predict's expected_result.txt", async () => {
    const r = await run('gbdt_predict', [await upload(vector('v01_gbdt.model'))], vector('test_data.txt'));
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.equal(r.result, vector('expected_result.txt'));
  });

  test("Teaclave's model.txt and test_data.txt give its expected_result.txt", async () => {
    const r = await run('gbdt_predict', [await upload(vector('expected_model.txt')), await upload(vector('test_data.txt'))]);
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.equal(r.result, vector('expected_result.txt'));
  });

  test('a model in Tessera’s earlier format (tessera-gbdt-1) still predicts as it did', async () => {
    const X = Array.from({ length: 20 }, (_, i) => [i, (i * 7) % 5]);
    const tree = new DecisionTreeRegression({ maxDepth: 3 });
    tree.train(X, X.map(([x]) => (x < 10 ? 0 : 10)));
    const legacy = { format: 'tessera-gbdt-1', loss: 'SquaredError', feature_size: 2, shrinkage: 0.5, init: 1, trees: [{ features: [0, 1], tree: tree.toJSON() }] };
    const r = await run('gbdt_predict', [await upload(JSON.stringify(legacy))], '0,1\n19,2');
    assert.equal(r.status, 200, JSON.stringify(r.error));
    // what the earlier gbdt_predict computed: init + shrinkage × the ml-cart tree
    const [a, b] = tree.predict([[0, 1], [19, 2]]);
    assert.equal(r.result, `${(1 + 0.5 * a).toFixed(10)}\n${(1 + 0.5 * b).toFixed(10)}\n`);
  });
});

describe('gbdt bad input: a clear reason, no results', () => {
  const model = () => JSON.parse(vector('expected_model.txt'));
  const cases: Array<[string, () => object | string, string | null, RegExp]> = [
    ['a model with an unknown loss', () => ({ ...model(), conf: { ...model().conf, loss: 'Huber' } }), '1,2,3,4', /not a gbdt-rs model: unknown loss "Huber"/],
    ['a tree with an unknown loss', () => { const m = model(); m.trees[3].loss = 'Hinge'; return m; }, '1,2,3,4', /unknown loss "Hinge"/],
    ['data with fewer features than the model', () => model(), '1,2,3\n', /the model takes 4 features; the data has 3/],
    ['a split reading a feature the model does not have', () => { const m = model(); m.trees[0].tree.tree[0].value.feature_index = 9; return m; }, '1,2,3,4', /read feature 9 .* conf.feature_size is 4/],
    ['a non-numeric cell', () => model(), '1,2,x,4\n', /line 1, column 3 is not a number: 'x'/],
    ['a hexadecimal cell (Rust reads only decimals)', () => model(), '1,2,0x3,4\n', /line 1, column 3 is not a number: '0x3'/],
    ['a model that is not JSON', () => '{"conf":', '1,2,3,4', /the model file is not JSON/],
    ['fewer trees than conf.iterations', () => ({ ...model(), trees: model().trees.slice(1) }), '1,2,3,4', /has 99 trees but conf.iterations is 100/],
    ['a node pointing back to its parent (a cycle)', () => { const m = model(); m.trees[0].tree.tree[2].value.is_leaf = false; m.trees[0].tree.tree[2].left = 0; return m; }, '1,2,3,4', /tree 0, node 2 of the model points to node 0/],
    ['a model without its bias', () => { const { bias: _b, ...m } = model(); return m; }, '1,2,3,4', /must have required property 'bias'/],
    ['no samples', () => model(), null, /needs the samples/],
  ];
  for (const [name, make, samples, message] of cases) {
    test(`gbdt_predict: ${name}`, async () => {
      const m = make();
      const r = await run('gbdt_predict', [await upload(typeof m === 'string' ? m : JSON.stringify(m))], samples);
      assert.equal(r.status, 400, `${r.status} ${r.body}`);
      assert.match(r.error!.message, message);
      const view = await r.view();
      assert.equal(view.status, 'Failed');
      assert.deepEqual(view.user_private_result_file_id, []);
    });
  }

  const trainCases: Array<[string, string, unknown, RegExp]> = [
    ['a non-numeric cell', '1,2,3,4,1\n5,6,seven,8,2\n', TEACLAVE_ARGS, /line 2, column 3 is not a number: 'seven'/],
    ['a row of the wrong width', '1,2,3,4,1\n5,6,7,2\n', TEACLAVE_ARGS, /line 2 has 4 columns; expected 5/],
    ['an unknown loss', vector('train.txt'), { ...TEACLAVE_ARGS, loss: 'Huber' }, /loss must be equal to one of the allowed values/],
    ['both namings at once', vector('train.txt'), { ...TEACLAVE_ARGS, gbdt_train_loss: 'LAD' }, /either late MesaTEE's argument names .* not both/],
    ['a zero shrinkage', vector('train.txt'), { ...TEACLAVE_ARGS, shrinkage: 0 }, /shrinkage must be > 0/],
    ['a missing required argument (late MesaTEE names)', vector('train.txt'), { ...MESATEE_ARGS, gbdt_train_max_depth: undefined }, /names without the gbdt_train_ prefix.*max_depth/],
  ];
  for (const [name, data, args, message] of trainCases) {
    test(`gbdt_train: ${name}`, async () => {
      const r = await run('gbdt_train', [await upload(data)], args);
      assert.equal(r.status, 400, `${r.status} ${r.body}`);
      assert.match(r.error!.message, message);
      assert.deepEqual((await r.view()).user_private_result_file_id, [], 'no model saved');
    });
  }
});
