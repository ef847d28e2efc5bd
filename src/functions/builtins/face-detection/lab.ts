import type { LabStage } from './model.js';
import type { Gray } from './resize.js';

// Locally Assembled Binary (LAB) features and the boosted classifier over them: the coarse first
// hierarchy that scans every window of every pyramid level. A pixel's feature compares the sum of the
// 3×3 block at (r+3, c+3) with its 8 neighbouring 3×3 blocks, one bit per neighbour.

const BLOCK = 3;
/** Neighbouring blocks (row, column offsets in blocks) and the bit each sets; the centre is (1, 1). */
const NEIGHBOURS: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0, 0x80],
  [0, 1, 0x40],
  [0, 2, 0x20],
  [1, 2, 0x08],
  [2, 2, 0x01],
  [2, 1, 0x02],
  [2, 0, 0x04],
  [1, 0, 0x10],
];
const GROUP = 10;
const MIN_STD_DEV = 10;

export class LabFeatureMap {
  width = 0;
  height = 0;
  features = new Uint8Array(0);
  /** Integral image of the pixels (i32, wrapping as rustface's). */
  private sums = new Int32Array(0);
  /** Integral image of the squared pixels (u32, wrapping as rustface's). */
  private squares = new Uint32Array(0);

  compute(img: Gray): void {
    const { width: w, height: h, data } = img;
    this.width = w;
    this.height = h;
    const n = w * h;
    const sums = (this.sums = new Int32Array(n));
    const squares = (this.squares = new Uint32Array(n));
    for (let y = 0; y < h; y++) {
      let rowSum = 0;
      let rowSquares = 0;
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const v = data[i];
        rowSum = (rowSum + v) | 0;
        rowSquares = (rowSquares + v * v) >>> 0;
        sums[i] = y === 0 ? rowSum : (sums[i - w] + rowSum) | 0;
        squares[i] = y === 0 ? rowSquares : squares[i - w] + rowSquares;
      }
    }
    this.features = new Uint8Array(n);
    if (w < BLOCK * 3 || h < BLOCK * 3) return;
    const block = this.blockSums();
    for (let r = 0; r <= h - BLOCK * 3; r++) {
      for (let c = 0; c <= w - BLOCK * 3; c++) {
        const centre = block[(r + BLOCK) * w + c + BLOCK];
        let bits = 0;
        for (const [dr, dc, bit] of NEIGHBOURS) if (centre >= block[(r + dr * BLOCK) * w + c + dc * BLOCK]) bits |= bit;
        this.features[r * w + c] = bits;
      }
    }
  }

  /** Sum of the 3×3 block whose top-left pixel is (r, c), stored at r·w + c, for every block inside. */
  private blockSums(): Int32Array {
    const { width: w, height: h } = this;
    const s = this.sums;
    const out = new Int32Array(w * h);
    const at = (r: number, c: number) => (r < 0 || c < 0 ? 0 : s[r * w + c]);
    for (let r = 0; r <= h - BLOCK; r++) {
      for (let c = 0; c <= w - BLOCK; c++) {
        const r1 = r + BLOCK - 1;
        const c1 = c + BLOCK - 1;
        out[r * w + c] = (at(r1, c1) - at(r - 1, c1) - at(r1, c - 1) + at(r - 1, c - 1)) | 0;
      }
    }
    return out;
  }

  /** Standard deviation of the pixels of the square window, from the integral images (f64, as rustface). */
  stdDev(x: number, y: number, size: number): number {
    const w = this.width;
    // Corners above or left of the image count as 0, as rustface's cases for windows at x = 0 or y = 0 do.
    const at = (a: Int32Array | Uint32Array, r: number, c: number) => (r < 0 || c < 0 ? 0 : a[r * w + c]);
    const [r0, c0, r1, c1] = [y - 1, x - 1, y + size - 1, x + size - 1];
    const box = (a: Int32Array | Uint32Array) => at(a, r1, c1) - at(a, r1, c0) + at(a, r0, c0) - at(a, r0, c1);
    const sum = box(this.sums) | 0;
    const sq = box(this.squares) >>> 0;
    const area = size * size;
    const mean = sum / area;
    const m2 = sq / area;
    return Math.sqrt(m2 - mean * mean);
  }
}

/** The boosted classifier: sums each base classifier's weight for its feature, in f32, stopping at a failed group. */
export function classifyLab(stage: LabStage, map: LabFeatureMap, x: number, y: number, size: number): { positive: boolean; score: number } {
  const f = Math.fround;
  const w = map.width;
  const feats = map.features;
  const n = stage.thresholds.length;
  let score = 0;
  let positive = true;
  let i = 0;
  while (positive && i < n) {
    for (let g = 0; g < GROUP; g++, i++) {
      const value = feats[(y + stage.offsets[2 * i + 1]) * w + x + stage.offsets[2 * i]];
      score = f(score + stage.weights[i][value]);
    }
    positive = score >= stage.thresholds[i - 1];
  }
  return { positive: positive && map.stdDev(x, y, size) > MIN_STD_DEV, score };
}
