import { kmeans } from 'ml-kmeans';
import { PCA } from 'ml-pca';
import { TesseraError } from '../../errors/index.js';
import type { FunctionDefinition } from '../registry.js';
import { jsonArguments, lines } from './common.js';
import { parseCsv } from './csv.js';

// MesaTEE's kmeans_cluster (late MesaTEE, mesatee_services/fns/sgx_trusted_lib/src/trusted_worker/kmeans.rs
// at a02ef46367e0) and Teaclave's builtin_principal_components_analysis (function/src/
// principal_components_analysis.rs at 95717d4afe53), both on rusty-machine. Here on ml-kmeans and ml-pca.

/** A decimal number as Rust's f64::from_str reads one (no hex, no blanks, no "Infinity"). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * kmeans_cluster's data: comma-separated numbers per line; blank lines and empty cells are skipped, as
 * MesaTEE does. MesaTEE silently dropped lines of the wrong width; Tessera refuses them.
 */
function parseKmeansData(fn: string, text: string, featureNum: number): number[][] {
  const rows: number[][] = [];
  lines(text).forEach((line, i) => {
    if (line.trim() === '') return;
    const cells = line.split(',').map((c) => c.trim()).filter((c) => c !== '');
    const bad = cells.findIndex((c) => !DECIMAL.test(c) || !Number.isFinite(Number(c)));
    if (bad >= 0) throw new TesseraError('invalid_input', `${fn}: line ${i + 1}, value ${bad + 1} is not a number: '${cells[bad]}'`);
    if (cells.length !== featureNum) throw new TesseraError('invalid_input', `${fn}: line ${i + 1} has ${cells.length} values; expected feature_num = ${featureNum}`);
    rows.push(cells.map(Number));
  });
  if (rows.length === 0) throw new TesseraError('invalid_input', `${fn}: the data has no rows`);
  return rows;
}

/** Fixed so that a task's result is reproducible (rusty-machine seeds from the enclave's RNG). */
const KMEANS_SEED = 42;

export const kmeansCluster: FunctionDefinition = {
  name: 'kmeans_cluster',
  kind: 'builtin',
  type: 'Single',
  description: 'k-means clustering (k-means++ start) of the CSV in the payload; returns each line\'s cluster',
  interface: {
    payload: 'json',
    arguments: [
      { name: 'k', description: 'number of clusters, 1 ≤ k ≤ the number of lines', required: true },
      { name: 'feature_num', description: 'numbers per line', required: true },
      { name: 'data', description: 'comma-separated numbers, one point per line', required: true },
    ],
    inputs: [],
    outputs: [],
  },
  run: async (ctx) => {
    const fn = 'kmeans_cluster';
    const args = jsonArguments<{ k: number; feature_num: number; data: string }>(fn, ctx.payload, {
      type: 'object',
      required: ['k', 'feature_num', 'data'],
      properties: {
        k: { type: 'integer', minimum: 1 },
        feature_num: { type: 'integer', minimum: 1, maximum: 10000 },
        data: { type: 'string' },
      },
    });
    const points = parseKmeansData(fn, args.data, args.feature_num);
    if (args.k > points.length) throw new TesseraError('invalid_input', `${fn}: k = ${args.k} is more than the ${points.length} lines of data`);
    // rusty-machine's KMeansClassifier::new(k): k-means++ initialisation, at most 100 iterations.
    const { clusters } = kmeans(points, args.k, { initialization: 'kmeans++', maxIterations: 100, seed: KMEANS_SEED });
    // Cluster numbers are arbitrary; number them in order of first appearance so that equal partitions read alike.
    const renumber = new Map<number, number>();
    for (const c of clusters) if (!renumber.has(c)) renumber.set(c, renumber.size);
    return `labels:\n${clusters.map((c) => `${renumber.get(c)}\n`).join('')}`;
  },
};

/** An f64 as Rust's `{:?}` writes it (Rust ≥ 1.58): shortest round-trip digits, ".0" on integers, exponent outside [1e-4, 1e16). */
export function rustDebugF64(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const a = Math.abs(x);
  if (a < 1e-4 || a >= 1e16) return x.toExponential().replace('e+', 'e');
  const s = String(x);
  return s.includes('.') ? s : `${s}.0`;
}

export const principalComponentsAnalysis: FunctionDefinition = {
  name: 'principal_components_analysis',
  kind: 'builtin',
  type: 'Single',
  description: 'Projects a CSV (label last, ignored) on its first n principal components; saves them for the creator',
  interface: {
    payload: 'json',
    arguments: [
      { name: 'n', description: 'principal components to keep, 1 ≤ n ≤ feature_size', required: true },
      { name: 'center', description: 'subtract the column means first', required: true },
      { name: 'feature_size', description: 'features per line, before the label', required: true },
    ],
    inputs: [{ name: 'input_data', description: 'CSV: feature_size numbers then a label (ignored), per line' }],
    outputs: [{ name: 'output_data', description: 'n comma-separated components per line, Rust {:?} format', for: 'creator' }],
  },
  run: async (ctx) => {
    const fn = 'principal_components_analysis';
    const args = jsonArguments<{ n: number; center: boolean; feature_size: number }>(fn, ctx.payload, {
      type: 'object',
      required: ['n', 'center', 'feature_size'],
      properties: {
        n: { type: 'integer', minimum: 1 },
        center: { type: 'boolean' },
        feature_size: { type: 'integer', minimum: 1, maximum: 10000 },
      },
    });
    if (args.n > args.feature_size) throw new TesseraError('invalid_input', `${fn}: n = ${args.n} is more than feature_size = ${args.feature_size}`);
    const text = (await ctx.readFile(ctx.inputFiles[0].file_id)).toString('utf8');
    const { features } = parseCsv(fn, text, args.feature_size, true);
    if (args.n > features.length) throw new TesseraError('invalid_input', `${fn}: n = ${args.n} is more than the ${features.length} lines of data`);
    // rusty-machine's PCA takes the SVD of the (centred) data, as ml-pca's default method does.
    const pca = new PCA(features, { method: 'SVD', center: args.center, scale: false });
    const projected = pca.predict(features, { nComponents: args.n }).to2DArray();
    const out = projected.map((row) => `${row.map(rustDebugF64).join(',')}\n`).join('');
    await ctx.saveForCreator(Buffer.from(out));
    return `transform ${projected.length} rows * ${args.n} cols lines of data.`;
  },
};
