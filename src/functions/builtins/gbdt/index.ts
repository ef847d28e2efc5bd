import { TesseraError } from '../../../errors/index.js';
import type { FunctionDefinition } from '../../registry.js';
import { jsonArguments } from '../common.js';
import { parseCsv, widthOf } from '../csv.js';
import { isLegacyModel, predictLegacy } from './legacy.js';
import { type GbdtConfig, maxFeatureIndex, predict, readModel, writeModel } from './model.js';
import { type TrainingLoss, train } from './train.js';

// The GBDT built-ins, in gbdt-rs's model format (see model.ts and train.ts). gbdt_train takes late
// MesaTEE's argument names (gbdt_train_feature_size, …; it returns the model's file id) or Teaclave's
// (feature_size, …; it returns "Trained N lines of data."), with gbdt-rs's Config::new defaults for the
// optional ones.

interface TrainArgs {
  feature_size: number;
  max_depth: number;
  iterations: number;
  shrinkage: number;
  feature_sample_ratio: number;
  data_sample_ratio: number;
  min_leaf_size: number;
  loss: TrainingLoss;
  training_optimization_level: number;
}

const num = (min: number, max: number, integer = false) => ({ type: integer ? 'integer' : 'number', minimum: min, maximum: max });
const TRAIN_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['feature_size', 'max_depth', 'iterations', 'shrinkage'],
  properties: {
    feature_size: num(1, 10000, true),
    max_depth: num(1, 64, true),
    iterations: num(1, 10000, true),
    shrinkage: { type: 'number', exclusiveMinimum: 0, maximum: 10 },
    feature_sample_ratio: { ...num(0, 1), default: 1 },
    data_sample_ratio: { ...num(0, 1), default: 1 },
    min_leaf_size: { ...num(1, 1e9, true), default: 1 },
    // gbdt-rs trains with these three; it would silently take an unknown name as SquaredError.
    loss: { enum: ['SquaredError', 'LogLikelyhood', 'LAD'], default: 'SquaredError' },
    training_optimization_level: { ...num(0, 255, true), default: 2 },
  },
};
const PREFIX = 'gbdt_train_';

/** The arguments under either naming, and which naming was used. */
function trainArguments(payload: string | null): { args: TrainArgs; mesatee: boolean } {
  let raw: unknown;
  try {
    raw = payload === null ? null : JSON.parse(payload);
  } catch {
    throw new TesseraError('invalid_input', 'gbdt_train: the payload must be a JSON object of arguments');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { args: jsonArguments<TrainArgs>('gbdt_train', payload, TRAIN_SCHEMA), mesatee: false };
  const keys = Object.keys(raw);
  const prefixed = keys.filter((k) => k.startsWith(PREFIX));
  if (prefixed.length > 0 && prefixed.length < keys.length) {
    throw new TesseraError('invalid_input', `gbdt_train: use either late MesaTEE's argument names (${PREFIX}…) or Teaclave's (feature_size, …), not both`);
  }
  const mesatee = prefixed.length > 0;
  const renamed = mesatee ? Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.slice(PREFIX.length), v])) : raw;
  try {
    return { args: jsonArguments<TrainArgs>('gbdt_train', JSON.stringify(renamed), TRAIN_SCHEMA), mesatee };
  } catch (err) {
    if (mesatee && err instanceof TesseraError) throw new TesseraError('invalid_input', err.message.replace(/gbdt_train: /, `gbdt_train (names without the ${PREFIX} prefix): `));
    throw err;
  }
}

const toF32Rows = (rows: number[][]) => rows.map((r) => Float32Array.from(r));

/** Rust's `{:.10}`: every digit, where JavaScript switches to exponents at 1e21. */
function fixed10(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? 'inf' : '-inf';
  return Math.abs(x) < 1e21 ? x.toFixed(10) : `${BigInt(x)}.0000000000`;
}

export const gbdtTrain: FunctionDefinition = {
  name: 'gbdt_train',
  kind: 'builtin',
  type: 'Single',
  description: "Trains gradient-boosted regression trees (gbdt-rs) on a CSV (label last); saves gbdt-rs's model for the creator",
  interface: {
    payload: 'json',
    arguments: Object.keys(TRAIN_SCHEMA.properties).map((name) => ({
      name,
      description: `${name.replaceAll('_', ' ')} (also ${PREFIX}${name}, late MesaTEE's name)`,
      required: TRAIN_SCHEMA.required.includes(name),
    })),
    inputs: [{ name: 'training_data', description: 'CSV: feature_size numbers then the label, per line' }],
    outputs: [{ name: 'trained_model', description: "the model, gbdt-rs's JSON", for: 'creator' }],
  },
  run: async (ctx) => {
    const { args, mesatee } = trainArguments(ctx.payload);
    const text = (await ctx.readFile(ctx.inputFiles[0].file_id)).toString('utf8');
    const data = parseCsv('gbdt_train', text, args.feature_size, true);
    const conf: GbdtConfig = {
      feature_size: args.feature_size,
      max_depth: args.max_depth,
      iterations: args.iterations,
      shrinkage: Math.fround(args.shrinkage),
      feature_sample_ratio: args.feature_sample_ratio,
      data_sample_ratio: args.data_sample_ratio,
      min_leaf_size: args.min_leaf_size,
      loss: args.loss,
      debug: false,
      initial_guess_enabled: false,
      training_optimization_level: Math.min(args.training_optimization_level, 2), // gbdt-rs's set_training_optimization_level
    };
    const model = train({ features: toF32Rows(data.features), labels: Float32Array.from(data.labels) }, conf, args.loss);
    const fileId = await ctx.saveForCreator(Buffer.from(writeModel(model)));
    return mesatee ? fileId : `Trained ${data.labels.length} lines of data.`;
  },
};

export const gbdtPredict: FunctionDefinition = {
  name: 'gbdt_predict',
  kind: 'builtin',
  type: 'Single',
  description: 'Predicts with a gbdt-rs model (or an older Tessera one); one prediction per line with 10 decimals',
  interface: {
    payload: 'text',
    arguments: [{ name: 'payload', description: 'CSV of features, one sample per line (MesaTEE v0.1); or null with a data file', required: false }],
    inputs: [
      { name: 'model_file', description: "a gbdt-rs model (gbdt_train's, or one written by gbdt-rs itself)" },
      { name: 'data_file', description: 'CSV of features, when the payload is null', optional: true },
    ],
    outputs: [],
  },
  run: async (ctx) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse((await ctx.readFile(ctx.inputFiles[0].file_id)).toString('utf8'));
    } catch {
      throw new TesseraError('invalid_input', 'gbdt_predict: the model file is not JSON');
    }
    const text = ctx.payload ?? (ctx.inputFiles[1] ? (await ctx.readFile(ctx.inputFiles[1].file_id)).toString('utf8') : null);
    if (text === null) throw new TesseraError('missing_value', 'gbdt_predict needs the samples: a CSV payload, or a second input file');
    const legacy = isLegacyModel(parsed) ? parsed : null;
    const model = legacy ? null : readModel('gbdt_predict', parsed);
    const featureSize = legacy ? legacy.feature_size : model!.conf.feature_size;
    if (widthOf(text) !== featureSize) {
      throw new TesseraError('invalid_input', `gbdt_predict: the model takes ${featureSize} features; the data has ${widthOf(text)}`);
    }
    if (model && maxFeatureIndex(model) >= featureSize) {
      throw new TesseraError('invalid_input', `gbdt_predict: the model's trees read feature ${maxFeatureIndex(model)} (counting from 0) but its conf.feature_size is ${featureSize}`);
    }
    const { features } = parseCsv('gbdt_predict', text, featureSize, false);
    const predictions = legacy ? predictLegacy(legacy, features) : predict(model!, toF32Rows(features));
    return predictions.map((p) => `${fixed10(p)}\n`).join('');
  },
};
