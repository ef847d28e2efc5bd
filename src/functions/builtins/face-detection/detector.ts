import { LabFeatureMap, classifyLab } from './lab.js';
import { classifyMlp } from './mlp.js';
import type { FuStModel, LabStage, MlpStage } from './model.js';
import { type Box, suppress } from './nms.js';
import { type Gray, pyramidScales, resizeBilinear } from './resize.js';
import { SurfFeatureMap } from './surf.js';

// The funnel-structured cascade (SeetaFace's FuSt, as rustface runs it): the first hierarchy's LAB
// cascades scan every window of an image pyramid; their windows, merged, are cut from the full image,
// scaled to the 40-pixel window and passed through the later hierarchies' MLP stages, which both score
// them and refine their boxes; a last merge sums the scores of overlapping windows.

/** rustface sets the window to 40 pixels in every detect call, whatever window size was set before. */
export const WINDOW = 40;

export interface DetectorOptions {
  stepX: number;
  stepY: number;
  /** 0 or negative: no limit beyond the image's shorter side. */
  maxFaceSize: number;
  pyramidScaleFactor: number;
  scoreThreshold: number;
}

/** rustface's defaults (FuStDetector::new). */
export const DEFAULT_OPTIONS: DetectorOptions = { stepX: 4, stepY: 4, maxFaceSize: -1, pyramidScaleFactor: 0.8, scoreThreshold: 3.85 };

const f = Math.fround;

/** Scans the pyramid with the first hierarchy; one list of windows per first-hierarchy cascade. */
function scan(model: FuStModel, image: Gray, opts: DetectorOptions): Box[][] {
  const first = model.hierarchies[0];
  const found: Box[][] = first.map(() => []);
  let shorter = Math.min(image.width, image.height);
  if (opts.maxFaceSize > 0) shorter = Math.min(opts.maxFaceSize, shorter);
  const map = new LabFeatureMap();
  for (const level of pyramidScales(image.width, image.height, opts.pyramidScaleFactor, f(WINDOW / shorter))) {
    // f32 rounding can leave a level a pixel short of the window; rustface would wrap there, so it is skipped.
    if (level.width < WINDOW || level.height < WINDOW) continue;
    map.compute(resizeBilinear(image, level.width, level.height));
    const boxSize = Math.trunc(f(f(WINDOW / level.scale) + 0.5));
    for (let y = 0; y <= level.height - WINDOW; y += opts.stepY) {
      for (let x = 0; x <= level.width - WINDOW; x += opts.stepX) {
        first.forEach((cascade, i) => {
          const { positive, score } = classifyLab(cascade.stages[0] as LabStage, map, x, y, WINDOW);
          if (!positive) return;
          found[i].push({ x: Math.trunc(f(f(x / level.scale) + 0.5)), y: Math.trunc(f(f(y / level.scale) + 0.5)), size: boxSize, score });
        });
      }
    }
  }
  return found;
}

/** The window's pixels, zero outside the image, scaled to WINDOW × WINDOW. */
function cutWindow(image: Gray, x: number, y: number, size: number): Gray {
  const buf = new Uint8Array(size * size);
  for (let r = 0; r < size; r++) {
    const sy = y + r;
    if (sy < 0 || sy >= image.height) continue;
    for (let c = 0; c < size; c++) {
      const sx = x + c;
      if (sx >= 0 && sx < image.width) buf[r * size + c] = image.data[sy * image.width + sx];
    }
  }
  return resizeBilinear({ data: buf, width: size, height: size }, WINDOW, WINDOW);
}

/** One MLP stage over the windows: keeps the positive ones, with the stage's score and refined box. */
function refine(stage: MlpStage, image: Gray, windows: Box[]): Box[] {
  const map = new SurfFeatureMap();
  const out: Box[] = [];
  for (const wnd of windows) {
    if (wnd.x + wnd.size <= 0 || wnd.y + wnd.size <= 0) continue;
    map.compute(cutWindow(image, wnd.x, wnd.y, wnd.size));
    const { positive, score, outputs } = classifyMlp(stage, map, 0, 0);
    if (!positive) continue;
    // rustface cuts a window that starts left of or above the image with zero padding, but moves the
    // window's corner to 0 while doing so; the refined box starts from that moved corner.
    const x = f(Math.max(wnd.x, 0));
    const y = f(Math.max(wnd.y, 0));
    const w = f(wnd.size);
    const side = Math.floor(f(f(f(f(f(outputs[3] * 2) - 1) * w) + w) + 0.5));
    out.push({
      size: Math.max(side, 0),
      x: Math.floor(f(f(f(f(f(f(outputs[1] * 2) - 1) * w) + x) + f(f(w - side) * 0.5)) + 0.5)),
      y: Math.floor(f(f(f(f(f(f(outputs[2] * 2) - 1) * w) + y) + f(f(w - side) * 0.5)) + 0.5)),
      score,
    });
  }
  return out;
}

export function detectFaces(model: FuStModel, image: Gray, opts: DetectorOptions): Box[] {
  const found = scan(model, image, opts);
  // Per first-hierarchy slot: `merged`, the slot's merged windows, which later cascades read; `working`,
  // the windows a later cascade produced into that slot (its first source).
  const merged = found.map((boxes) => suppress(boxes, 0.8));
  const working: Box[][] = found.map(() => []);
  const last = model.hierarchies.length - 1;
  for (let h = 1; h <= last; h++) {
    const slotOf = model.hierarchies[h].map((cascade) => {
      const slot = cascade.sources[0];
      let windows = cascade.sources.flatMap((k) => merged[k]);
      cascade.stages.forEach((stage, k) => {
        windows = refine(stage as MlpStage, image, windows);
        // Between stages, and after the very last one, overlapping windows are merged; the merge is also
        // what the slot holds from then on, even for the next cascade of the same hierarchy.
        if (k < cascade.stages.length - 1) merged[slot] = windows = suppress(windows, 0.8);
        else if (h === last) merged[slot] = windows = suppress(windows, 0.3);
      });
      working[slot] = windows;
      return slot;
    });
    slotOf.forEach((slot, j) => {
      merged[j] = working[slot];
    });
  }
  return merged[0].filter((b) => b.score >= opts.scoreThreshold);
}
