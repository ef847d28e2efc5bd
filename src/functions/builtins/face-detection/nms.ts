// Non-maximum suppression as SeetaFace merges windows: best score first, every later window that overlaps
// it by more than the IoU threshold (computed in f32) is dropped and its score added to the kept one's.

export interface Box {
  x: number;
  y: number;
  /** Windows are square: the width is also the height. */
  size: number;
  score: number;
}

export function suppress(boxes: Box[], iouThreshold: number): Box[] {
  const f = Math.fround;
  const threshold = f(iouThreshold);
  // Array.prototype.sort is stable, as Rust's sort_by is: equal scores keep their order.
  const sorted = [...boxes].sort((a, b) => (a.score > b.score ? -1 : a.score < b.score ? 1 : 0));
  const merged = new Uint8Array(sorted.length);
  const kept: Box[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (merged[i]) continue;
    merged[i] = 1;
    const a = sorted[i];
    let score = a.score;
    const areaA = f(a.size * a.size);
    const ax2 = a.x + a.size - 1;
    const ay2 = a.y + a.size - 1;
    for (let j = i + 1; j < sorted.length; j++) {
      if (merged[j]) continue;
      const b = sorted[j];
      const x = Math.max(a.x, b.x);
      const y = Math.max(a.y, b.y);
      const w = Math.min(ax2, b.x + b.size - 1) - x + 1;
      const h = Math.min(ay2, b.y + b.size - 1) - y + 1;
      if (w <= 0 || h <= 0) continue;
      const intersection = f(w * h);
      const union = f(f(areaA + f(b.size * b.size)) - intersection);
      if (f(intersection / union) > threshold) {
        merged[j] = 1;
        score += b.score;
      }
    }
    kept.push({ ...a, score });
  }
  return kept;
}
