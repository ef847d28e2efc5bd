import LogisticRegression from 'ml-logistic-regression';
import { Matrix } from 'ml-matrix';
import { TesseraError } from '../../errors/index.js';
import type { FunctionDefinition } from '../registry.js';
import { jsonArguments } from './common.js';
import { parseCsv, widthOf } from './csv.js';

// Teaclave's builtin-logistic-regression-{train,predict}: binary logistic regression by gradient
// descent, model {"alpha","iters","parameters"} with the intercept first, predictions as
// probabilities with 4 decimals. Training is ml-logistic-regression's.

interface Model {
  alpha: number;
  iters: number;
  parameters: number[];
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const withIntercept = (rows: number[][]) => new Matrix(rows.map((r) => [1, ...r]));

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
    // ml-logistic-regression sums the gradient over samples; dividing alpha by n gives the mean-gradient step Teaclave takes.
    const lr = new LogisticRegression({ numSteps: args.alg_iters, learningRate: args.alg_alpha / data.features.length });
    lr.train(withIntercept(data.features), Matrix.columnVector(data.labels));
    // Its one-vs-all classifier 0 scores "not class 0", which for 0/1 labels is P(label = 1).
    const model: Model = { alpha: args.alg_alpha, iters: args.alg_iters, parameters: lr.classifiers[0].weights.to1DArray() };
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
