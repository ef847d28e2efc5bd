// Minimal declarations for the parts of the ml.js packages Tessera uses (they ship no types).
declare module 'ml-cart' {
  export class DecisionTreeRegression {
    constructor(options?: { maxDepth?: number; minNumSamples?: number });
    train(features: number[][], values: number[]): void;
    predict(features: number[][]): number[];
    toJSON(): object;
    static load(model: object): DecisionTreeRegression;
  }
}

declare module 'ml-logistic-regression' {
  export default class LogisticRegression {
    constructor(options?: { numSteps?: number; learningRate?: number });
    train(features: import('ml-matrix').Matrix, labels: import('ml-matrix').Matrix): void;
    classifiers: Array<{ weights: import('ml-matrix').Matrix }>;
  }
}
