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
