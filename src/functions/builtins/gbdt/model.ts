import { Ajv } from 'ajv';
import { TesseraError } from '../../../errors/index.js';
import { f32, formatF32, formatF64 } from './rust-float.js';

// gbdt-rs's model, as its `GBDT` struct is serialised by serde_json (gbdt 0.1, mesalock-linux/gbdt-rs
// src/gradient_boost.rs, decision_tree.rs, binary_tree.rs, config.rs): field names, their order and
// the loss names below are that format's.

export const LOSSES = ['SquaredError', 'LogLikelyhood', 'LAD', 'RegLinear', 'RegLogistic', 'BinaryLogistic', 'BinaryLogitraw', 'MultiSoftprob', 'MultiSoftmax', 'RankPairwise'] as const;
export type Loss = (typeof LOSSES)[number];

export interface GbdtConfig {
  feature_size: number;
  max_depth: number;
  iterations: number;
  shrinkage: number; // f32
  feature_sample_ratio: number; // f64
  data_sample_ratio: number; // f64
  min_leaf_size: number;
  loss: Loss;
  debug: boolean;
  initial_guess_enabled: boolean;
  training_optimization_level: number;
}

export interface TreeNode {
  feature_index: number;
  feature_value: number; // f32
  pred: number; // f32
  missing: number; // -1 left, 0 this node's pred, 1 right, for a missing feature
  is_leaf: boolean;
  left: number; // node index, 0 for none
  right: number;
}

export interface DecisionTree {
  nodes: TreeNode[];
  feature_size: number;
  max_depth: number;
  min_leaf_size: number;
  loss: Loss;
  feature_sample_ratio: number;
}

export interface GbdtModel {
  conf: GbdtConfig;
  trees: DecisionTree[];
  bias: number; // f32
}

/** gbdt-rs's VALUE_TYPE_UNKNOWN (f32::MIN): a feature with this value is missing. */
export const VALUE_UNKNOWN = -3.4028234663852886e38;

const uint = { type: 'integer', minimum: 0 };
const float = { type: 'number' };
const NODE_SCHEMA = {
  type: 'object',
  required: ['value', 'index', 'left', 'right'],
  properties: {
    value: {
      type: 'object',
      required: ['feature_index', 'feature_value', 'pred', 'missing', 'is_leaf'],
      properties: { feature_index: uint, feature_value: float, pred: float, missing: { type: 'integer', minimum: -128, maximum: 127 }, is_leaf: { type: 'boolean' } },
    },
    index: uint,
    left: uint,
    right: uint,
  },
};
const LOSS_SCHEMA = { enum: LOSSES };
const MODEL_SCHEMA = {
  type: 'object',
  required: ['conf', 'trees', 'bias'],
  properties: {
    conf: {
      type: 'object',
      required: ['feature_size', 'max_depth', 'iterations', 'shrinkage', 'feature_sample_ratio', 'data_sample_ratio', 'min_leaf_size', 'loss', 'debug', 'initial_guess_enabled', 'training_optimization_level'],
      properties: {
        feature_size: uint,
        max_depth: uint,
        iterations: uint,
        shrinkage: float,
        feature_sample_ratio: float,
        data_sample_ratio: float,
        min_leaf_size: uint,
        loss: LOSS_SCHEMA,
        debug: { type: 'boolean' },
        initial_guess_enabled: { type: 'boolean' },
        training_optimization_level: { type: 'integer', minimum: 0, maximum: 255 },
      },
    },
    trees: {
      type: 'array',
      items: {
        type: 'object',
        required: ['tree', 'feature_size', 'max_depth', 'min_leaf_size', 'loss', 'feature_sample_ratio'],
        properties: {
          tree: { type: 'object', required: ['tree'], properties: { tree: { type: 'array', items: NODE_SCHEMA } } },
          feature_size: uint,
          max_depth: uint,
          min_leaf_size: uint,
          loss: LOSS_SCHEMA,
          feature_sample_ratio: float,
        },
      },
    },
    bias: float,
  },
};
const validateModel = new Ajv({ allErrors: false, strict: false, verbose: true }).compile(MODEL_SCHEMA);

interface SerdeNode {
  value: Omit<TreeNode, 'left' | 'right'>;
  index: number;
  left: number;
  right: number;
}
interface SerdeModel {
  conf: GbdtConfig;
  trees: Array<Omit<DecisionTree, 'nodes'> & { tree: { tree: SerdeNode[] } }>;
  bias: number;
}

/** Reads a gbdt-rs model. `parsed` is the file's JSON. Errors name the first thing wrong. */
export function readModel(fn: string, parsed: unknown): GbdtModel {
  if (!validateModel(parsed)) {
    const e = validateModel.errors?.[0];
    const where = e?.instancePath ? `at ${e.instancePath}` : 'at the top level';
    const unknownLoss = e?.keyword === 'enum' && e.instancePath.endsWith('/loss');
    const detail = unknownLoss ? `unknown loss ${JSON.stringify(e.data)} (gbdt-rs knows ${LOSSES.join(', ')})` : `${e?.message ?? 'invalid'} ${where}`;
    throw new TesseraError('invalid_input', `${fn}: the model is not a gbdt-rs model: ${detail}`);
  }
  const model = parsed as unknown as SerdeModel;
  if (model.trees.length !== model.conf.iterations) {
    // gbdt-rs asserts this before predicting
    throw new TesseraError('invalid_input', `${fn}: the model has ${model.trees.length} trees but conf.iterations is ${model.conf.iterations}`);
  }
  const trees = model.trees.map((tree, t) => ({ ...tree, nodes: readNodes(fn, t, tree.tree.tree) }));
  for (const tree of trees) delete (tree as { tree?: unknown }).tree;
  return { conf: { ...model.conf, shrinkage: f32(model.conf.shrinkage) }, trees, bias: f32(model.bias) };
}

function readNodes(fn: string, t: number, nodes: SerdeNode[]): TreeNode[] {
  if (nodes.length === 0) throw new TesseraError('invalid_input', `${fn}: tree ${t} of the model has no nodes`);
  return nodes.map((node, i) => {
    const bad = (why: string) => new TesseraError('invalid_input', `${fn}: tree ${t}, node ${i} of the model ${why}`);
    if (node.index !== i) throw bad(`has index ${node.index}`);
    if (!node.value.is_leaf) {
      // Children after their parent is how gbdt-rs builds trees, and it rules out cycles, so a
      // prediction always ends.
      for (const child of [node.left, node.right]) {
        if (child <= i || child >= nodes.length) throw bad(`points to node ${child}, which is not a later node of the tree`);
      }
    }
    return { ...node.value, feature_value: f32(node.value.feature_value), pred: f32(node.value.pred), left: node.left, right: node.right };
  });
}

/** The highest feature index the model's split nodes read, or -1. */
export function maxFeatureIndex(model: GbdtModel): number {
  let max = -1;
  for (const tree of model.trees) for (const n of tree.nodes) if (!n.is_leaf && n.feature_index > max) max = n.feature_index;
  return max;
}

/** One tree's prediction for one sample (gbdt-rs's DecisionTree::predict_one, without recursion). */
export function predictOne(nodes: TreeNode[], sample: ArrayLike<number>): number {
  let node = nodes[0];
  for (;;) {
    if (node.is_leaf) return node.pred;
    const value = sample[node.feature_index];
    if (value === VALUE_UNKNOWN) {
      if (node.missing === 0) return node.pred;
      node = nodes[node.missing < 0 ? node.left : node.right];
    } else {
      node = nodes[value < node.feature_value ? node.left : node.right];
    }
  }
}

/** gbdt-rs's GBDT::predict: bias plus shrinkage × each tree, in f32, then the loss's link function. */
export function predict(model: GbdtModel, samples: ArrayLike<number>[]): number[] {
  const { shrinkage, loss, initial_guess_enabled } = model.conf;
  if (model.trees.length === 0) return samples.map(() => VALUE_UNKNOWN);
  return samples.map((sample) => {
    // With initial guesses enabled gbdt-rs starts from each sample's guess, which is 0 for test data.
    let score = initial_guess_enabled ? 0 : model.bias;
    for (const tree of model.trees) score = f32(score + f32(shrinkage * predictOne(tree.nodes, sample)));
    if (loss === 'LogLikelyhood') return f32(1 / f32(1 + f32(Math.exp(f32(-2 * score)))));
    if (loss === 'BinaryLogistic' || loss === 'RegLogistic') return f32(1 / f32(1 + f32(Math.exp(-score))));
    return score;
  });
}

/** The model as serde_json writes gbdt-rs's GBDT: the same fields, order and number text. */
export function writeModel(model: GbdtModel): string {
  const c = model.conf;
  const conf =
    `{"feature_size":${c.feature_size},"max_depth":${c.max_depth},"iterations":${c.iterations},"shrinkage":${formatF32(c.shrinkage)},` +
    `"feature_sample_ratio":${formatF64(c.feature_sample_ratio)},"data_sample_ratio":${formatF64(c.data_sample_ratio)},"min_leaf_size":${c.min_leaf_size},` +
    `"loss":"${c.loss}","debug":${c.debug},"initial_guess_enabled":${c.initial_guess_enabled},"training_optimization_level":${c.training_optimization_level}}`;
  const trees = model.trees.map((t) => {
    const nodes = t.nodes.map(
      (n, i) =>
        `{"value":{"feature_index":${n.feature_index},"feature_value":${formatF32(n.feature_value)},"pred":${formatF32(n.pred)},"missing":${n.missing},"is_leaf":${n.is_leaf}},"index":${i},"left":${n.left},"right":${n.right}}`,
    );
    return `{"tree":{"tree":[${nodes.join(',')}]},"feature_size":${t.feature_size},"max_depth":${t.max_depth},"min_leaf_size":${t.min_leaf_size},"loss":"${t.loss}","feature_sample_ratio":${formatF64(t.feature_sample_ratio)}}`;
  });
  return `{"conf":${conf},"trees":[${trees.join(',')}],"bias":${formatF32(model.bias)}}`;
}
