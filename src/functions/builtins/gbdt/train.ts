import { randomInt } from 'node:crypto';
import type { DecisionTree, GbdtConfig, GbdtModel, TreeNode } from './model.js';
import { VALUE_UNKNOWN, predictOne } from './model.js';
import { f32 } from './rust-float.js';

// gbdt-rs's training (gbdt 0.1, src/gradient_boost.rs GBDT::fit and src/decision_tree.rs
// DecisionTree::fit_n), step for step: the same f32 and f64 arithmetic, split search, leaf values and
// node order, so the fixtures' models come out byte for byte. Its training_optimization_level only
// chooses which sorted lists gbdt-rs caches; every level builds the same trees, and so does this one,
// which keeps each node's rows sorted by every feature (as level 2 does).

export type TrainingLoss = 'SquaredError' | 'LogLikelyhood' | 'LAD';

export interface TrainingSet {
  features: Float32Array[]; // one row per sample
  labels: Float32Array;
}

const MAX_F64 = Number.MAX_VALUE;
const almostEqual = (a: number, b: number) => Math.abs(f32(a - b)) < 1e-5;

/** Indices 0..n-1 sorted by key, ties kept in index order. */
function sortedBy(count: number, key: (i: number) => number): Int32Array {
  const order = Int32Array.from({ length: count }, (_, i) => i);
  return order.sort((a, b) => key(a) - key(b) || a - b);
}

function shuffle(values: number[]): void {
  for (let i = values.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [values[i], values[j]] = [values[j], values[i]];
  }
}

interface NodeRows {
  rows: Int32Array; // in the order gbdt-rs keeps them: the parent's split feature order
  byFeature: Int32Array[]; // the same rows, sorted by each feature
  byResidual: Int32Array | null; // LAD only
}

class Trainer {
  readonly n: number;
  readonly width: number;
  readonly target: Float32Array;
  readonly residual: Float32Array;
  readonly s: Float64Array;
  readonly ss: Float64Array;
  readonly logitC: Float32Array;
  readonly preds: Float32Array;
  readonly byFeature: Int32Array[];
  byResidual: Int32Array | null = null;

  constructor(
    readonly data: TrainingSet,
    readonly conf: GbdtConfig,
    readonly loss: TrainingLoss,
  ) {
    this.n = data.labels.length;
    this.width = conf.feature_size;
    this.target = new Float32Array(this.n);
    this.residual = new Float32Array(this.n);
    this.s = new Float64Array(this.n);
    this.ss = new Float64Array(this.n);
    this.logitC = new Float32Array(this.n);
    this.preds = new Float32Array(this.n).fill(VALUE_UNKNOWN);
    this.byFeature = Array.from({ length: this.width }, (_, f) => sortedBy(this.n, (i) => data.features[i][f]));
  }

  /** GBDT::init: the starting score of every sample. Every sample weighs 1, as the built-ins make them. */
  bias(): number {
    const labels = this.data.labels;
    const average = () => {
      let sum = 0;
      for (const l of labels) sum += l;
      return labels.length === 0 ? 0 : f32(sum / labels.length);
    };
    if (this.loss === 'LogLikelyhood') {
      const v = average();
      return f32(f32(Math.log(f32(f32(1 + v) / f32(1 - v)))) / 2);
    }
    if (this.loss === 'LAD') {
      const sorted = Float32Array.from(labels).sort();
      for (let i = 0; i < sorted.length; i++) {
        if ((i + 1) * 2 > sorted.length) {
          // gbdt-rs's weighted_label_median averages with the previous label only from the third
          // label on (its test is `i - 1 > 0`); it fails outright on a single sample, which gets its label.
          return i >= 2 ? f32(f32(sorted[i] + sorted[i - 1]) / 2) : sorted[i];
        }
      }
      return 0;
    }
    return average();
  }

  /** The loss's *_loss_process and TrainingCache::init_one_iteration. */
  setTargets(predicted: Float32Array): void {
    const { labels } = this.data;
    for (let i = 0; i < this.n; i++) {
      if (this.loss === 'LAD') {
        this.residual[i] = labels[i] - predicted[i];
        this.target[i] = this.residual[i] >= 0 ? 1 : -1;
      } else if (this.loss === 'LogLikelyhood') {
        const y2 = f32(2 * labels[i]);
        this.target[i] = y2 / f32(1 + f32(Math.exp(f32(y2 * predicted[i]))));
      } else {
        this.target[i] = labels[i] - predicted[i];
      }
      const t = this.target[i];
      this.s[i] = t;
      this.ss[i] = t * t;
      if (this.loss === 'LogLikelyhood') {
        const y = Math.abs(t);
        this.logitC[i] = y * (2 - y);
      }
    }
    if (this.loss === 'LAD') this.byResidual = sortedBy(this.n, (i) => this.residual[i]);
  }

  rootRows(subset: Int32Array): NodeRows {
    const member = new Uint8Array(this.n);
    for (const i of subset) member[i] = 1;
    const keep = (order: Int32Array) => (subset.length === this.n ? order : order.filter((i) => member[i] === 1));
    return { rows: subset, byFeature: this.byFeature.map(keep), byResidual: this.byResidual && keep(this.byResidual) };
  }

  /** calculate_pred: the node's value. */
  nodeValue(node: NodeRows): number {
    if (this.loss === 'LAD') {
      const sorted = node.byResidual!;
      const all = sorted.length;
      for (let i = 0; i < sorted.length; i++) {
        if ((i + 1) * 2 > all) {
          const r = this.residual[sorted[i]];
          return i >= 1 ? f32(f32(r + this.residual[sorted[i - 1]]) / 2) : r;
        }
      }
      return 0;
    }
    let sum = 0;
    let weight = 0;
    for (const i of node.rows) {
      sum += this.s[i];
      weight += this.loss === 'LogLikelyhood' ? this.logitC[i] : 1;
    }
    return Math.abs(weight) < 1e-10 ? 0 : f32(sum / weight);
  }

  private allSame(rows: Int32Array): boolean {
    if (rows.length === 0) return false;
    const t = this.target[rows[0]];
    for (let k = 1; k < rows.length; k++) if (!almostEqual(t, this.target[rows[k]])) return false;
    return true;
  }

  fitTree(subset: Int32Array): TreeNode[] {
    const nodes: TreeNode[] = [];
    const add = (): number => nodes.push({ feature_index: 0, feature_value: 0, pred: 0, missing: 0, is_leaf: false, left: 0, right: 0 }) - 1;
    const fitNode = (index: number, depth: number, rows: NodeRows): void => {
      const node = nodes[index];
      node.pred = this.nodeValue(rows);
      const split =
        depth >= this.conf.max_depth || this.allSame(rows.rows) || rows.rows.length <= this.conf.min_leaf_size ? null : this.split(rows);
      if (split === null) {
        node.is_leaf = true;
        for (const i of rows.rows) this.preds[i] = node.pred;
        return;
      }
      node.feature_index = split.feature;
      node.feature_value = split.value;
      const [left, right] = this.partition(rows, split.feature, split.side);
      node.left = add();
      fitNode(node.left, depth + 1, left);
      node.right = add();
      fitNode(node.right, depth + 1, right);
    };
    fitNode(add(), 0, this.rootRows(subset));
    return nodes;
  }

  /** DecisionTree::split and get_impurity: the feature and threshold with the least squared error. */
  private split(node: NodeRows): { feature: number; value: number; side: Uint8Array } | null {
    let features = Array.from({ length: this.width }, (_, f) => f);
    if (this.conf.feature_sample_ratio < 1) {
      shuffle(features);
      features = features.slice(0, Math.floor(this.conf.feature_sample_ratio * this.width));
    }
    let totalS = 0;
    let totalSS = 0;
    let totalC = 0;
    for (const i of node.rows) {
      totalS += this.s[i];
      totalSS += this.ss[i];
      totalC += 1;
    }
    let best = MAX_F64;
    let found: { feature: number; value: number } | null = null;
    for (const f of features) {
      const sorted = node.byFeature[f];
      const x = (k: number) => this.data.features[sorted[k]][f];
      let unknown = 0;
      let s = 0;
      let ss = 0;
      let c = 0;
      while (unknown < sorted.length && x(unknown) === VALUE_UNKNOWN) {
        s += this.s[sorted[unknown]];
        ss += this.ss[sorted[unknown]];
        c += 1;
        unknown++;
      }
      if (unknown === sorted.length) continue;
      const fitness0 = c > 1 ? Math.max(0, ss - (s * s) / c) : 0;
      let ls = 0;
      let lss = 0;
      let lc = 0;
      let rs = totalS - s;
      let rss = totalSS - ss;
      let rc = totalC - c;
      let impurity = MAX_F64;
      let value = VALUE_UNKNOWN;
      for (let k = unknown; k < sorted.length - 1; k++) {
        const i = sorted[k];
        ls += this.s[i];
        lss += this.ss[i];
        lc += 1;
        rs -= this.s[i];
        rss -= this.ss[i];
        rc -= 1;
        const f1 = x(k);
        const f2 = x(k + 1);
        if (almostEqual(f1, f2)) continue;
        const fitness1 = lc > 1 ? Math.max(0, lss - (ls * ls) / lc) : 0;
        const fitness2 = rc > 1 ? Math.max(0, rss - (rs * rs) / rc) : 0;
        const fitness = fitness0 + fitness1 + fitness2;
        if (impurity > fitness) {
          impurity = fitness;
          value = f32(f32(f1 + f2) / 2);
        }
      }
      if (best > impurity) {
        best = impurity;
        found = { feature: f, value };
      }
    }
    if (found === null) return null;
    // 1 left, 2 right, 0 neither (a missing feature): gbdt-rs drops the missing ones from both children.
    const side = new Uint8Array(this.n);
    let left = 0;
    let right = 0;
    for (const i of node.rows) {
      const v = this.data.features[i][found.feature];
      if (v === VALUE_UNKNOWN) continue;
      if (v < found.value) {
        side[i] = 1;
        left++;
      } else {
        side[i] = 2;
        right++;
      }
    }
    const missing = node.rows.length - left - right;
    if ((left === 0 ? 1 : 0) + (right === 0 ? 1 : 0) + (missing === 0 ? 1 : 0) >= 2) return null;
    return { ...found, side };
  }

  /** The children's rows, each list keeping its order; `rows` in the split feature's order, as gbdt-rs's. */
  private partition(node: NodeRows, feature: number, side: Uint8Array): [NodeRows, NodeRows] {
    const pick = (order: Int32Array, which: number) => order.filter((i) => side[i] === which);
    const child = (which: number): NodeRows => ({
      rows: pick(node.byFeature[feature], which),
      byFeature: node.byFeature.map((order) => pick(order, which)),
      byResidual: node.byResidual && pick(node.byResidual, which),
    });
    return [child(1), child(2)];
  }
}

export function train(data: TrainingSet, conf: GbdtConfig, loss: TrainingLoss): GbdtModel {
  const t = new Trainer(data, conf, loss);
  const n = data.labels.length;
  const bias = t.bias();
  const predicted = new Float32Array(n).fill(bias);
  const sampled = conf.data_sample_ratio < 1 ? Math.floor(n * conf.data_sample_ratio) : n;
  const trees: DecisionTree[] = [];
  for (let iteration = 0; iteration < conf.iterations; iteration++) {
    let subset: Int32Array;
    let remaining: Int32Array;
    if (sampled < n) {
      const order = Array.from({ length: n }, (_, i) => i);
      shuffle(order);
      subset = Int32Array.from(order.slice(0, sampled)).sort();
      remaining = Int32Array.from(order.slice(sampled)).sort();
    } else {
      subset = Int32Array.from({ length: n }, (_, i) => i);
      remaining = new Int32Array(0);
    }
    t.setTargets(predicted);
    const nodes = t.fitTree(subset);
    for (const i of subset) predicted[i] = predicted[i] + f32(t.preds[i] * conf.shrinkage);
    for (const i of remaining) predicted[i] = predicted[i] + f32(predictOne(nodes, data.features[i]) * conf.shrinkage);
    trees.push({ nodes, feature_size: conf.feature_size, max_depth: conf.max_depth, min_leaf_size: conf.min_leaf_size, loss: conf.loss, feature_sample_ratio: conf.feature_sample_ratio });
  }
  return { conf, trees, bias };
}
