import { DecisionTreeRegression } from 'ml-cart';

// Models written by Tessera before it wrote gbdt-rs's format ("tessera-gbdt-1": ml-cart regression trees
// with boosting around them). They are still read, so models users already hold keep predicting.

export interface LegacyModel {
  format: 'tessera-gbdt-1';
  loss: 'SquaredError' | 'LogLikelyhood' | 'LAD';
  feature_size: number;
  shrinkage: number;
  init: number;
  trees: Array<{ features: number[]; tree: object }>;
}

export const isLegacyModel = (value: unknown): value is LegacyModel =>
  typeof value === 'object' && value !== null && (value as { format?: unknown }).format === 'tessera-gbdt-1' && Array.isArray((value as { trees?: unknown }).trees);

export function predictLegacy(model: LegacyModel, features: number[][]): number[] {
  const score = new Array<number>(features.length).fill(model.init);
  for (const { features: cols, tree } of model.trees) {
    const step = DecisionTreeRegression.load(tree).predict(features.map((f) => cols.map((c) => f[c])));
    for (let i = 0; i < score.length; i++) score[i] += model.shrinkage * step[i];
  }
  return model.loss === 'LogLikelyhood' ? score.map((x) => 1 / (1 + Math.exp(-x))) : score;
}
