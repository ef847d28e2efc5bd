import type { FunctionRegistry } from '../registry.js';
import { onlineDecrypt, passwordCheck, rsaSign } from './crypto.js';
import { concat, echoFile, fileBytesPlusOne, swapFile } from './files.js';
import { gbdtPredict, gbdtTrain } from './gbdt.js';
import { privateJoinAndCompute } from './join.js';
import { logisticRegressionPredict, logisticRegressionTrain } from './logistic.js';
import { bytesPlusOne, echo } from './payload.js';
import { orderedSetIntersect, psi } from './set-intersection.js';

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
  passwordCheck,
  gbdtTrain,
  gbdtPredict,
  logisticRegressionTrain,
  logisticRegressionPredict,
];

export function registerBuiltins(registry: FunctionRegistry): void {
  for (const def of BUILTINS) registry.register(def);
}
