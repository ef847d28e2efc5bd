import { DecisionTreeRegression } from 'ml-cart';
import { TesseraError } from '../../errors/index.js';
import type { FunctionDefinition } from '../registry.js';
import { jsonArguments } from './common.js';
import { parseCsv, widthOf } from './csv.js';

// Gradient-boosted regression trees, with ml-cart's CART regression tree as the base learner. The
// model is Tessera's own JSON (format "tessera-gbdt-1"), not gbdt-rs's.

type Loss = 'SquaredError' | 'LogLikelyhood' | 'LAD';

interface GbdtModel {
  format: 'tessera-gbdt-1';
  loss: Loss;
  feature_size: number;
  shrinkage: number;
  init: number;
  trees: Array<{ features: number[]; tree: object }>;
}

interface TrainArgs {
  gbdt_train_feature_size: number;
  gbdt_train_max_depth: number;
  gbdt_train_iterations: number;
  gbdt_train_shrinkage: number;
  gbdt_train_feature_sample_ratio: number;
  gbdt_train_data_sample_ratio: number;
  gbdt_train_min_leaf_size: number;
  gbdt_train_loss: Loss;
  gbdt_train_training_optimization_level: number;
}

const num = (min: number, max: number, integer = false) => ({ type: integer ? 'integer' : 'number', minimum: min, maximum: max });
const TRAIN_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['gbdt_train_feature_size', 'gbdt_train_max_depth', 'gbdt_train_iterations', 'gbdt_train_shrinkage'],
  properties: {
    gbdt_train_feature_size: num(1, 10000, true),
    gbdt_train_max_depth: num(1, 64, true),
    gbdt_train_iterations: num(1, 10000, true),
    gbdt_train_shrinkage: num(0, 10),
    gbdt_train_feature_sample_ratio: { ...num(0, 1), default: 1 },
    gbdt_train_data_sample_ratio: { ...num(0, 1), default: 1 },
    gbdt_train_min_leaf_size: { ...num(1, 1e9, true), default: 1 },
    gbdt_train_loss: { enum: ['SquaredError', 'LogLikelyhood', 'LAD'], default: 'SquaredError' },
    gbdt_train_training_optimization_level: { ...num(0, 2, true), default: 2 },
  },
};

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** A small deterministic PRNG (mulberry32), so sampling, and so the model, is reproducible. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sample(count: number, ratio: number, rand: () => number): number[] {
  const all = Array.from({ length: count }, (_, i) => i);
  const k = Math.max(1, Math.round(count * ratio));
  if (k >= count) return all;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, k).sort((a, b) => a - b);
}

export function trainGbdt(features: number[][], labels: number[], args: TrainArgs): GbdtModel {
  const loss = args.gbdt_train_loss;
  let y = labels;
  if (loss === 'LogLikelyhood') {
    if (labels.some((l) => l !== 0 && l !== 1 && l !== -1)) throw new TesseraError('invalid_input', 'gbdt_train: LogLikelyhood needs labels 0/1 (or -1/1)');
    y = labels.map((l) => (l === 1 ? 1 : 0));
  }
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const median = [...y].sort((a, b) => a - b)[Math.floor(y.length / 2)];
  const init = loss === 'LogLikelyhood' ? Math.log(Math.max(mean, 1e-12) / Math.max(1 - mean, 1e-12)) : loss === 'LAD' ? median : mean;
  const score = new Array<number>(y.length).fill(init);
  const rand = random(1);
  const model: GbdtModel = { format: 'tessera-gbdt-1', loss, feature_size: args.gbdt_train_feature_size, shrinkage: args.gbdt_train_shrinkage, init, trees: [] };
  for (let m = 0; m < args.gbdt_train_iterations; m++) {
    const residual = y.map((t, i) => (loss === 'LogLikelyhood' ? t - sigmoid(score[i]) : loss === 'LAD' ? Math.sign(t - score[i]) : t - score[i]));
    const rows = sample(y.length, args.gbdt_train_data_sample_ratio, rand);
    const cols = sample(args.gbdt_train_feature_size, args.gbdt_train_feature_sample_ratio, rand);
    const tree = new DecisionTreeRegression({ maxDepth: args.gbdt_train_max_depth, minNumSamples: args.gbdt_train_min_leaf_size });
    tree.train(rows.map((r) => cols.map((c) => features[r][c])), rows.map((r) => residual[r]));
    const step = tree.predict(features.map((f) => cols.map((c) => f[c])));
    for (let i = 0; i < score.length; i++) score[i] += args.gbdt_train_shrinkage * step[i];
    model.trees.push({ features: cols, tree: tree.toJSON() });
  }
  return model;
}

export function predictGbdt(model: GbdtModel, features: number[][]): number[] {
  const score = new Array<number>(features.length).fill(model.init);
  for (const { features: cols, tree } of model.trees) {
    const step = DecisionTreeRegression.load(tree).predict(features.map((f) => cols.map((c) => f[c])));
    for (let i = 0; i < score.length; i++) score[i] += model.shrinkage * step[i];
  }
  return model.loss === 'LogLikelyhood' ? score.map(sigmoid) : score;
}

function loadModel(bytes: Buffer): GbdtModel {
  let model: GbdtModel;
  try {
    model = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new TesseraError('invalid_input', 'gbdt_predict: the model file is not JSON');
  }
  if (model?.format !== 'tessera-gbdt-1' || !Array.isArray(model.trees)) {
    throw new TesseraError('invalid_input', 'gbdt_predict: the model file is not a model made by gbdt_train (format tessera-gbdt-1)');
  }
  return model;
}

export const gbdtTrain: FunctionDefinition = {
  name: 'gbdt_train',
  kind: 'builtin',
  type: 'Single',
  description: 'Trains gradient-boosted regression trees on a CSV (label last); saves the model for the creator and returns its file id',
  interface: {
    payload: 'json',
    arguments: Object.keys(TRAIN_SCHEMA.properties).map((name) => ({ name, description: name.replace('gbdt_train_', '').replaceAll('_', ' '), required: TRAIN_SCHEMA.required.includes(name) })),
    inputs: [{ name: 'training_data', description: 'CSV: feature_size numbers then the label, per line' }],
    outputs: [{ name: 'trained_model', description: 'the model, JSON', for: 'creator' }],
  },
  run: async (ctx) => {
    const args = jsonArguments<TrainArgs>('gbdt_train', ctx.payload, TRAIN_SCHEMA);
    const data = parseCsv('gbdt_train', (await ctx.readFile(ctx.inputFiles[0].file_id)).toString('utf8'), args.gbdt_train_feature_size, true);
    const model = trainGbdt(data.features, data.labels, args);
    return ctx.saveForCreator(Buffer.from(JSON.stringify(model)));
  },
};

export const gbdtPredict: FunctionDefinition = {
  name: 'gbdt_predict',
  kind: 'builtin',
  type: 'Single',
  description: 'Predicts with a gbdt_train model; one prediction per line with 10 decimals',
  interface: {
    payload: 'text',
    arguments: [{ name: 'payload', description: 'CSV of features, one sample per line (MesaTEE v0.1); or null with a data file', required: false }],
    inputs: [
      { name: 'model_file', description: 'a model from gbdt_train' },
      { name: 'data_file', description: 'CSV of features, when the payload is null', optional: true },
    ],
    outputs: [],
  },
  run: async (ctx) => {
    const model = loadModel(await ctx.readFile(ctx.inputFiles[0].file_id));
    const text = ctx.payload ?? (ctx.inputFiles[1] ? (await ctx.readFile(ctx.inputFiles[1].file_id)).toString('utf8') : null);
    if (text === null) throw new TesseraError('missing_value', 'gbdt_predict needs the samples: a CSV payload, or a second input file');
    if (widthOf(text) !== model.feature_size) throw new TesseraError('invalid_input', `gbdt_predict: the model takes ${model.feature_size} features; the data has ${widthOf(text)}`);
    const { features } = parseCsv('gbdt_predict', text, model.feature_size, false);
    return predictGbdt(model, features).map((p) => `${p.toFixed(10)}\n`).join('');
  },
};
