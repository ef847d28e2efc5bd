import type { Gray } from './resize.js';

// SURF-like gradient features of a 40×40 window, the input of the MLP stages. Eight integral channels
// hold the x and y gradients split by sign: for the x gradient, dx and |dx| where dy ≥ 0, then dx and |dx|
// where dy < 0; for the y gradient, the same four split by the sign of dx. A feature is a patch of 2×2
// cells; its vector is each cell's sum of the 8 channels, normalised to unit length.

const CHANNELS = 8;
const SAMPLE = 40;
const PATCH_MIN = 16;
const PATCH_STEP = 16;

interface Patch {
  x: number;
  y: number;
  width: number;
  height: number;
  cellsPerRow: number;
  cellsPerColumn: number;
}

/** Patch shapes (width : height in units, cells per row, cells per column), in the pool's order. */
const FORMATS: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 1, 2, 2],
  [1, 2, 2, 2],
  [2, 1, 2, 2],
  [2, 3, 2, 2],
  [3, 2, 2, 2],
];

/** SeetaFace's pool of patches over the 40×40 sample: every shape, every height from 16 up, placed on a 16-pixel grid. */
function featurePool(): Patch[] {
  const pool: Patch[] = [];
  for (const [fw, fh, cellsPerRow, cellsPerColumn] of FORMATS) {
    for (let h = PATCH_MIN; h <= SAMPLE; h++) {
      if (h % cellsPerColumn !== 0 || h % fh !== 0) continue;
      const w = Math.floor(h / fh) * fw;
      if (w % cellsPerRow !== 0 || w < PATCH_MIN || w > SAMPLE) continue;
      for (let y = 0; y <= SAMPLE - h; y += PATCH_STEP) {
        for (let x = 0; x <= SAMPLE - w; x += PATCH_STEP) pool.push({ x, y, width: w, height: h, cellsPerRow, cellsPerColumn });
      }
    }
  }
  return pool;
}

export const FEATURE_POOL: readonly Patch[] = featurePool();

export const featureDimension = (p: Patch): number => p.cellsPerRow * p.cellsPerColumn * CHANNELS;

export class SurfFeatureMap {
  private width = 0;
  /** Inclusive integral images, CHANNELS values per pixel (i32, wrapping as rustface's). */
  private integral = new Int32Array(0);
  // Every window is 40 × 40: the buffers are kept from one window to the next.
  private gx = new Int32Array(0);
  private gy = new Int32Array(0);

  compute(img: Gray): void {
    const { width: w, height: h, data } = img;
    this.width = w;
    if (this.gx.length !== w * h) {
      this.gx = new Int32Array(w * h);
      this.gy = new Int32Array(w * h);
      this.integral = new Int32Array(w * h * CHANNELS);
    }
    const { gx, gy } = this;
    // Central differences inside; at the borders the one-sided difference, doubled.
    for (let r = 0; r < h; r++) {
      const o = r * w;
      for (let c = 0; c < w; c++) {
        gx[o + c] = c === 0 ? (data[o + 1] - data[o]) * 2 : c === w - 1 ? (data[o + c] - data[o + c - 1]) * 2 : data[o + c + 1] - data[o + c - 1];
        gy[o + c] = r === 0 ? (data[o + w + c] - data[c]) * 2 : r === h - 1 ? (data[o + c] - data[o - w + c]) * 2 : data[o + w + c] - data[o - w + c];
      }
    }
    const integral = this.integral;
    integral.fill(0);
    for (let i = 0; i < w * h; i++) {
      const dx = gx[i];
      const dy = gy[i];
      const at = i * CHANNELS;
      const xSlot = dy < 0 ? 2 : 0;
      integral[at + xSlot] = dx;
      integral[at + xSlot + 1] = Math.abs(dx);
      const ySlot = dx < 0 ? 6 : 4;
      integral[at + ySlot] = dy;
      integral[at + ySlot + 1] = Math.abs(dy);
    }
    const row = w * CHANNELS;
    for (let r = 1; r < h; r++) for (let k = 0; k < row; k++) integral[r * row + k] = (integral[r * row + k] + integral[(r - 1) * row + k]) | 0;
    for (let r = 0; r < h; r++) {
      for (let c = 1; c < w; c++) {
        const at = r * row + c * CHANNELS;
        for (let k = 0; k < CHANNELS; k++) integral[at + k] = (integral[at + k] + integral[at - CHANNELS + k]) | 0;
      }
    }
  }

  /** Writes the normalised vector of pool feature `id` (0-based) for the window at (x, y) into `out` at `offset`. */
  featureVector(id: number, x: number, y: number, out: Float32Array, offset: number): void {
    const p = FEATURE_POOL[id];
    const cw = p.width / p.cellsPerRow;
    const ch = p.height / p.cellsPerColumn;
    const raw = new Int32Array(featureDimension(p));
    const w = this.width;
    const ii = this.integral;
    const at = (r: number, c: number, k: number) => (r < 0 || c < 0 ? 0 : ii[(r * w + c) * CHANNELS + k]);
    let n = 0;
    for (let cy = 0; cy < p.cellsPerColumn; cy++) {
      for (let cx = 0; cx < p.cellsPerRow; cx++) {
        const top = y + p.y + cy * ch - 1;
        const left = x + p.x + cx * cw - 1;
        const bottom = top + ch;
        const right = left + cw;
        for (let k = 0; k < CHANNELS; k++) raw[n++] = (at(bottom, right, k) + at(top, left, k) - at(top, right, k) - at(bottom, left, k)) | 0;
      }
    }
    // Σ v² in f64 of each i32 square (which wraps in rustface's release build, as Math.imul does).
    let sumSquares = 0;
    for (const v of raw) sumSquares += Math.imul(v, v);
    if (sumSquares === 0) {
      out.fill(0, offset, offset + raw.length);
      return;
    }
    const norm = Math.fround(Math.sqrt(sumSquares));
    for (let i = 0; i < raw.length; i++) out[offset + i] = Math.fround(Math.fround(raw[i]) / norm);
  }
}
