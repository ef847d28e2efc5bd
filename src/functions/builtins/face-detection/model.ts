import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TesseraError } from '../../../errors/index.js';

// SeetaFace's funnel-structured cascade (FuSt) model file, as rustface reads it: little-endian i32 and
// f32 values, one hierarchy after another; each hierarchy has member cascades, each a list of stages
// (a LAB boosted classifier or a SURF MLP) and the indexes of the earlier cascades whose windows it takes.

export interface LabStage {
  kind: 'lab';
  /** Offsets (x, y) in the window of each base classifier's LAB feature, as pairs. */
  offsets: Int32Array;
  /** Per base classifier: its weight for each of the 256 feature values. */
  weights: Float32Array[];
  /** Per base classifier: the threshold of the running score, checked after every group of 10. */
  thresholds: Float32Array;
}

export interface MlpLayer {
  inputs: number;
  outputs: number;
  /** Row-major: one row of `inputs` weights per output. */
  weights: Float32Array;
  biases: Float32Array;
}

export interface MlpStage {
  kind: 'mlp';
  /** 1-based indexes into the SURF feature pool. */
  featureIds: Int32Array;
  threshold: number;
  /** Hidden layers use ReLU, the last layer the logistic function. */
  layers: MlpLayer[];
}

export type Stage = LabStage | MlpStage;

export interface Cascade {
  stages: Stage[];
  /** The cascades (global indexes) whose surviving windows this one examines. */
  sources: number[];
}

export interface FuStModel {
  /** Cascades of each hierarchy, in order. */
  hierarchies: Cascade[][];
}

/** The LAB feature takes 8 bits. */
const LAB_BINS = 256;

class Reader {
  private at = 0;
  constructor(private readonly bytes: Buffer) {}

  private need(n: number): void {
    if (this.at + n > this.bytes.length) throw new TesseraError('internal', `face model: ends early (at byte ${this.at})`);
  }

  i32(): number {
    this.need(4);
    const v = this.bytes.readInt32LE(this.at);
    this.at += 4;
    return v;
  }

  count(what: string, max: number): number {
    const v = this.i32();
    if (v < 0 || v > max) throw new TesseraError('internal', `face model: ${what} is ${v}`);
    return v;
  }

  f32s(n: number): Float32Array {
    this.need(4 * n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.bytes.readFloatLE(this.at + 4 * i);
    this.at += 4 * n;
    return out;
  }

  i32s(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.i32();
    return out;
  }

  get done(): boolean {
    return this.at === this.bytes.length;
  }
}

function readLab(r: Reader): LabStage {
  const n = r.count('a LAB stage size', 1 << 16);
  const bins = r.count('a LAB bin count', LAB_BINS);
  if (bins !== LAB_BINS - 1 || n % 10 !== 0) throw new TesseraError('internal', `face model: a LAB stage of ${n} classifiers and ${bins} bins`);
  const offsets = r.i32s(2 * n);
  const thresholds = r.f32s(n);
  const weights: Float32Array[] = [];
  for (let i = 0; i < n; i++) weights.push(r.f32s(bins + 1));
  return { kind: 'lab', offsets, weights, thresholds };
}

function readMlp(r: Reader): MlpStage {
  const layerCount = r.count('an MLP layer count', 64);
  const featureCount = r.count('an MLP feature count', 1 << 16);
  const featureIds = r.i32s(featureCount);
  const threshold = r.f32s(1)[0];
  const layers: MlpLayer[] = [];
  let inputs = r.count('an MLP input size', 1 << 20);
  for (let i = 1; i < layerCount; i++) {
    const outputs = r.count('an MLP layer size', 1 << 20);
    layers.push({ inputs, outputs, weights: r.f32s(inputs * outputs), biases: r.f32s(outputs) });
    inputs = outputs;
  }
  if (layers.length === 0) throw new TesseraError('internal', 'face model: an MLP stage without layers');
  return { kind: 'mlp', featureIds, threshold, layers };
}

export function parseModel(bytes: Buffer): FuStModel {
  const r = new Reader(bytes);
  const hierarchies: Cascade[][] = [];
  const hierarchyCount = r.count('the hierarchy count', 64);
  for (let h = 0; h < hierarchyCount; h++) {
    const cascades: Cascade[] = [];
    const size = r.count('a hierarchy size', 64);
    for (let c = 0; c < size; c++) {
      const stages: Stage[] = [];
      const stageCount = r.count('a stage count', 64);
      for (let s = 0; s < stageCount; s++) {
        const kind = r.i32();
        if (kind === 0) stages.push(readLab(r));
        else if (kind === 1) stages.push(readMlp(r));
        else throw new TesseraError('internal', `face model: unknown classifier kind ${kind}`);
      }
      const sourceCount = r.i32();
      cascades.push({ stages, sources: sourceCount > 0 ? Array.from(r.i32s(sourceCount)) : [] });
    }
    hierarchies.push(cascades);
  }
  if (!r.done) throw new TesseraError('internal', 'face model: bytes after the last hierarchy');
  if (hierarchies.length === 0 || hierarchies[0].length === 0) throw new TesseraError('internal', 'face model: no first hierarchy');
  // The detector scans the pyramid with the first hierarchy alone, all on one LAB feature map.
  if (hierarchies[0].some((c) => c.stages.length !== 1 || c.stages[0].kind !== 'lab')) {
    throw new TesseraError('internal', 'face model: the first hierarchy must be single LAB stages');
  }
  // Later stages refine each window's box from the last layer's outputs 1 to 3 (rustface would index past
  // a shorter output), so they must be MLPs with at least 4 outputs.
  for (const stage of hierarchies.slice(1).flat().flatMap((c) => c.stages)) {
    if (stage.kind !== 'mlp' || stage.layers[stage.layers.length - 1].outputs < 4) {
      throw new TesseraError('internal', 'face model: stages after the first hierarchy must be MLPs with 4 outputs');
    }
  }
  const slots = hierarchies[0].length;
  if (hierarchies.some((cascades) => cascades.length > slots)) throw new TesseraError('internal', `face model: a hierarchy larger than the first (${slots})`);
  for (const cascade of hierarchies.slice(1).flat()) {
    if (cascade.sources.length === 0 || cascade.sources.some((k) => k < 0 || k >= slots)) {
      throw new TesseraError('internal', `face model: a cascade takes windows from [${cascade.sources}], not from the ${slots} first ones`);
    }
  }
  return { hierarchies };
}

// The model ships with the package (models/ at its root); its digest is part of this measured code, so a
// node whose model was swapped refuses to detect rather than silently detect something else.
export const MODEL_URL = new URL('../../../../../models/seeta_fd_frontal_v1.0.bin', import.meta.url);
export const MODEL_SHA256 = 'c4619d066ed35e84d9a8e842860b0dff567aba0cbb139881075538761db3ff5d';

/** Reads and parses a model file, refusing one whose SHA-256 is not `sha256`. */
export function loadModel(url: URL, sha256: string): FuStModel {
  let bytes: Buffer;
  try {
    bytes = readFileSync(url);
  } catch (err) {
    throw new TesseraError('internal', `face model: cannot read ${url.pathname} (${(err as Error).message})`);
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== sha256) throw new TesseraError('internal', `face model: ${url.pathname} has SHA-256 ${digest}, not the bundled model's ${sha256}`);
  return parseModel(bytes);
}

let loaded: FuStModel | undefined;

/** The bundled frontal-face model, read once per worker thread. */
export function frontalModel(): FuStModel {
  loaded ??= loadModel(MODEL_URL, MODEL_SHA256);
  return loaded;
}
