import { TesseraError } from '../../errors/index.js';
import type { FunctionDefinition } from '../registry.js';
import { jsonArguments } from './common.js';
import { parseCsv, widthOf } from './csv.js';

// Teaclave's builtin-logistic-regression-{train,predict}: binary logistic regression by gradient
// descent, model {"alpha","iters","parameters"} with the intercept first, predictions as
// probabilities with 4 decimals. Training is batch gradient descent as rusty-machine's LogisticRegressor
// (which Teaclave uses) does it: every weight starts at 0.5, the gradient is the mean over samples of
// x·(sigmoid(x·w) − y), and each step subtracts alpha times it. Teaclave's expected_model.txt fixture
// is reproduced to 2.2e-16 per parameter (not bit for bit: summation order and libm's exp differ in the
// last place).

interface Model {
  alpha: number;
  iters: number;
  parameters: number[];
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function dot(u: Float64Array, v: Float64Array): number {
  let s = 0;
  for (let k = 0; k < u.length; k++) s += u[k] * v[k];
  return s;
}

/** Gradient descent from weights of 0.5, intercept column first; returns the parameters. */
export function trainLogistic(features: number[][], labels: number[], alpha: number, iters: number): number[] {
  const n = features.length;
  const cols = (features[0]?.length ?? 0) + 1;
  const rows = features.map((r) => Float64Array.from([1, ...r]));
  // The columns of the design matrix, for the transposed product.
  const columns = Array.from({ length: cols }, (_, c) => Float64Array.from(rows, (r) => r[c]));
  const y = Float64Array.from(labels);
  let w = new Float64Array(cols).fill(0.5);
  const residual = new Float64Array(n);
  for (let it = 0; it < iters; it++) {
    for (let i = 0; i < n; i++) residual[i] = sigmoid(dot(rows[i], w)) - y[i];
    const next = new Float64Array(cols);
    for (let c = 0; c < cols; c++) next[c] = w[c] - (dot(columns[c], residual) / n) * alpha;
    w = next;
  }
  return Array.from(w);
}

export const logisticRegressionTrain: FunctionDefinition = {
  name: 'logistic_regression_train',
  kind: 'builtin',
  type: 'Single',
  description: 'Trains binary logistic regression on a CSV (label 0/1 last); saves the model for the creator',
  interface: {
    payload: 'json',
    arguments: [
      { name: 'alg_alpha', description: 'learning rate', required: true },
      { name: 'alg_iters', description: 'gradient descent iterations', required: true },
      { name: 'feature_size', description: 'features per line, before the label', required: true },
    ],
    inputs: [{ name: 'training_data', description: 'CSV: feature_size numbers then a 0/1 label, per line' }],
    outputs: [{ name: 'model_file', description: '{"alpha","iters","parameters"}, intercept first', for: 'creator' }],
  },
  run: async (ctx) => {
    const args = jsonArguments<{ alg_alpha: number; alg_iters: number; feature_size: number }>('logistic_regression_train', ctx.payload, {
      type: 'object',
      additionalProperties: false,
      required: ['alg_alpha', 'alg_iters', 'feature_size'],
      properties: {
        alg_alpha: { type: 'number', exclusiveMinimum: 0 },
        alg_iters: { type: 'integer', minimum: 1, maximum: 1000000 },
        feature_size: { type: 'integer', minimum: 1, maximum: 10000 },
      },
    });
    const data = parseCsv('logistic_regression_train', (await ctx.readFile(ctx.inputFiles[0].file_id)).toString('utf8'), args.feature_size, true);
    if (data.labels.some((l) => l !== 0 && l !== 1)) throw new TesseraError('invalid_input', 'logistic_regression_train: labels must be 0 or 1');
    const model: Model = { alpha: args.alg_alpha, iters: args.alg_iters, parameters: trainLogistic(data.features, data.labels, args.alg_alpha, args.alg_iters) };
    await ctx.saveForCreator(Buffer.from(JSON.stringify(model)));
    return `Trained ${data.features.length} lines of data.`;
  },
};

export const logisticRegressionPredict: FunctionDefinition = {
  name: 'logistic_regression_predict',
  kind: 'builtin',
  type: 'Single',
  description: 'Predicts P(label = 1) per line with a logistic_regression_train model; saves the predictions for the creator',
  interface: {
    payload: 'none',
    arguments: [],
    inputs: [
      { name: 'model_file', description: 'a model from logistic_regression_train' },
      { name: 'data_file', description: 'CSV of features, one sample per line' },
    ],
    outputs: [{ name: 'result_file', description: 'one probability per line, 4 decimals', for: 'creator' }],
  },
  run: async (ctx) => {
    let model: Model;
    try {
      model = JSON.parse((await ctx.readFile(ctx.inputFiles[0].file_id)).toString('utf8'));
    } catch {
      throw new TesseraError('invalid_input', 'logistic_regression_predict: the model file is not JSON');
    }
    if (!Array.isArray(model?.parameters) || model.parameters.some((p) => typeof p !== 'number')) {
      throw new TesseraError('invalid_input', 'logistic_regression_predict: the model has no numeric "parameters"');
    }
    const text = (await ctx.readFile(ctx.inputFiles[1].file_id)).toString('utf8');
    const featureSize = model.parameters.length - 1;
    if (widthOf(text) !== featureSize) throw new TesseraError('invalid_input', `logistic_regression_predict: the model takes ${featureSize} features; the data has ${widthOf(text)}`);
    const { features } = parseCsv('logistic_regression_predict', text, featureSize, false);
    const out = features.map((f) => `${sigmoid(f.reduce((acc, x, i) => acc + x * model.parameters[i + 1], model.parameters[0])).toFixed(4)}\n`).join('');
    await ctx.saveForCreator(Buffer.from(out));
    return `Predicted ${features.length} lines of data.`;
  },
};
