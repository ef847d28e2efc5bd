import { TesseraError } from '../../../errors/index.js';
import type { MlpLayer, MlpStage } from './model.js';
import { FEATURE_POOL, type SurfFeatureMap, featureDimension } from './surf.js';

// The MLP stages: the chosen SURF features of the window, concatenated, through fully connected layers
// (ReLU, then the logistic function at the output), all in f32 with one rounding per operation as rustface
// computes them. Output 0 is the face score; outputs 1 to 3 refine the window's box.

const f = Math.fround;

function forward(layer: MlpLayer, input: Float32Array, last: boolean): Float32Array {
  const out = new Float32Array(layer.outputs);
  const { inputs, weights, biases } = layer;
  for (let o = 0; o < layer.outputs; o++) {
    let dot = 0;
    const row = o * inputs;
    for (let i = 0; i < inputs; i++) dot = f(dot + f(input[i] * weights[row + i]));
    const x = f(dot + biases[o]);
    out[o] = last ? f(1 / f(1 + f(Math.exp(-x)))) : x > 0 ? x : 0;
  }
  return out;
}

export function classifyMlp(stage: MlpStage, map: SurfFeatureMap, x: number, y: number): { positive: boolean; score: number; outputs: Float32Array } {
  let input: Float32Array = new Float32Array(stage.layers[0].inputs);
  let offset = 0;
  for (const id of stage.featureIds) {
    const patch = FEATURE_POOL[id - 1];
    if (!patch || offset + featureDimension(patch) > input.length) throw new TesseraError('internal', `face model: MLP feature ${id} does not fit its input layer`);
    map.featureVector(id - 1, x, y, input, offset);
    offset += featureDimension(patch);
  }
  stage.layers.forEach((layer, i) => {
    input = forward(layer, input, i === stage.layers.length - 1);
  });
  return { positive: input[0] > stage.threshold, score: input[0], outputs: input };
}
