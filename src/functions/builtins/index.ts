import type { FunctionRegistry } from '../registry.js';
import type { BuiltinRunner } from '../worker-pool.js';
import { decrypt, onlineDecrypt, passwordCheck, rsaSign } from './crypto.js';
import { faceDetection } from './face-detection/index.js';
import { concat, echoFile, fileBytesPlusOne, swapFile } from './files.js';
import { gbdtPredict, gbdtTrain } from './gbdt/index.js';
import { imageResize } from './image-resize.js';
import { privateJoinAndCompute } from './join.js';
import { mesapyFromBuffer } from './mesapy.js';
import { logisticRegressionPredict, logisticRegressionTrain } from './logistic.js';
import { bytesPlusOne, echo } from './payload.js';
import { orderedSetIntersect, psi } from './set-intersection.js';
import { kmeansCluster, principalComponentsAnalysis } from './unsupervised.js';
import { wasmiFromBuffer } from './wasmi.js';

export const BUILTINS = [
  echo,
  bytesPlusOne,
  echoFile,
  fileBytesPlusOne,
  concat,
  swapFile,
  psi,
  orderedSetIntersect,
  privateJoinAndCompute,
  rsaSign,
  onlineDecrypt,
  decrypt,
  passwordCheck,
  gbdtTrain,
  gbdtPredict,
  logisticRegressionTrain,
  logisticRegressionPredict,
  kmeansCluster,
  principalComponentsAnalysis,
  wasmiFromBuffer,
  imageResize,
  mesapyFromBuffer,
  faceDetection,
];

/**
 * Registers the built-ins, each run by `runner` (in the node, a pool of worker threads: see
 * ../worker-pool.ts). Their code here is what the worker thread runs; it never runs on the node's thread.
 */
export function registerBuiltins(registry: FunctionRegistry, runner: BuiltinRunner): void {
  for (const def of BUILTINS) registry.register({ ...def, run: (ctx) => runner.run(def.name, ctx) });
}
