// The summary statistics every benchmark reports, computed one way.
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** The value at or below which p% of the samples fall (nearest rank). */
export const percentile = (xs: number[], p: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
export const median = (xs: number[]) => percentile(xs, 50);
export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
