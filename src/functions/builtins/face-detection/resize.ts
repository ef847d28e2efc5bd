// Bilinear resampling of an 8-bit grey image, computed in f64 and truncated to u8 exactly as rustface
// (and SeetaFace before it) does: the detector's scores depend on these bytes, so the same arithmetic in
// the same order is what keeps Tessera's detections equal to Teaclave's.

export interface Gray {
  data: Uint8Array;
  width: number;
  height: number;
}

export function resizeBilinear(src: Gray, width: number, height: number): Gray {
  if (src.width === width && src.height === height) return { data: src.data.slice(), width, height };
  const out = new Uint8Array(width * height);
  const sw = src.width;
  const s = src.data;
  const scaleX = sw / width;
  const scaleY = src.height / height;
  // rustface takes min(floor(pos), side - 2) so that the right and lower neighbours exist; a side under 2
  // (a degenerate window) would wrap in rustface, so here the neighbours are clamped to the last pixel.
  const lastX = Math.max(sw - 2, 0);
  const lastY = Math.max(src.height - 2, 0);
  const maxX = sw - 1;
  const maxY = src.height - 1;
  for (let y = 0; y < height; y++) {
    const posY = scaleY * y;
    const y0 = Math.min(Math.trunc(posY), lastY);
    const wy = posY - y0;
    const row0 = y0 * sw;
    const row1 = Math.min(y0 + 1, maxY) * sw;
    for (let x = 0; x < width; x++) {
      const posX = scaleX * x;
      const x0 = Math.min(Math.trunc(posX), lastX);
      const wx = posX - x0;
      const x1 = Math.min(x0 + 1, maxX);
      const v = (1 - wy) * ((1 - wx) * s[row0 + x0] + wx * s[row0 + x1]) + wy * ((1 - wx) * s[row1 + x0] + wx * s[row1 + x1]);
      // Rust's `as u8` truncates and saturates; the Uint8Array store alone would wrap.
      out[y * width + x] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
    }
  }
  return { data: out, width, height };
}

/**
 * The scales of the image pyramid, largest first: 1, then times `step` (in f32) while not below
 * `minScale`, each with the scaled size rustface computes (f32 product, truncated).
 */
export function* pyramidScales(width: number, height: number, step: number, minScale: number): Generator<{ scale: number; width: number; height: number }> {
  const f = Math.fround;
  const stepF = f(step);
  const min = f(minScale);
  for (let scale = f(1); scale >= min; scale = f(scale * stepF)) {
    yield { scale, width: Math.trunc(f(f(width) * scale)), height: Math.trunc(f(f(height) * scale)) };
  }
}
