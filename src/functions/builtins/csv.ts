import { TesseraError } from '../../errors/index.js';
import { lines } from './common.js';

export interface Dataset {
  features: number[][];
  labels: number[];
}

// What Rust's str::parse::<f32/f64> reads, less inf and NaN; Number() would also take hex, binary and ''.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Comma-separated numbers, one sample per line; with `labelled`, the last column is the label. */
export function parseCsv(fn: string, text: string, featureSize: number, labelled: boolean): Dataset {
  const features: number[][] = [];
  const labels: number[] = [];
  const width = featureSize + (labelled ? 1 : 0);
  lines(text).forEach((line, i) => {
    if (line.trim() === '') return;
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length !== width) {
      throw new TesseraError('invalid_input', `${fn}: line ${i + 1} has ${cells.length} columns; expected ${width} (${featureSize} features${labelled ? ' and a label' : ''})`);
    }
    const values = cells.map((c) => (DECIMAL.test(c) ? Number(c) : NaN));
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new TesseraError('invalid_input', `${fn}: line ${i + 1}, column ${bad + 1} is not a number: '${cells[bad]}'`);
    if (labelled) labels.push(values.pop()!);
    features.push(values);
  });
  if (features.length === 0) throw new TesseraError('invalid_input', `${fn}: the data has no rows`);
  return { features, labels };
}

/** The feature count of unlabelled data: the width of its first non-empty line. */
export const widthOf = (text: string): number => (lines(text).find((l) => l.trim() !== '') ?? '').split(',').length;
