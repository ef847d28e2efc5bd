// Renders the suite's results: the Markdown report (docs/BENCHMARKS.md) and an SVG of p50/p99
// latencies on a log scale, for readers who would rather look than read.
import { cpus, totalmem } from 'node:os';
import type { LatencyBar, Row } from './targets.js';

export interface Ran {
  name: string;
  about: string;
  seconds: number;
  peakRssMiB: number;
  rows: Row[];
  latencies: LatencyBar[];
  raw: unknown;
}

const mark = (met: boolean | null) => (met === null ? 'not measured' : met ? 'met' : '**missed**');

export function table(ran: Ran[]): string {
  const lines = ['| benchmark | Tessera | baseline | ratio | target | result |', '|---|---|---|---|---|---|'];
  for (const r of ran) for (const row of r.rows) lines.push(`| ${row.measure} | ${row.tessera} | ${row.baseline} | ${row.ratio ?? '—'} | ${row.target} | ${mark(row.met)} |`);
  return lines.join('\n');
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform} ${process.arch}`;
}

export function markdown(ran: Ran[], findings: string, commit: string): string {
  const met = ran.flatMap((r) => r.rows).filter((row) => row.met === true).length;
  const all = ran.flatMap((r) => r.rows).length;
  return `# Benchmark report

Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit \`${commit}\`: the figures are that commit's.
Later changes show only when it runs again: \`npm run bench\` (about 5 minutes on 2 cores) rewrites this file.
Machine: ${machine()}. Every ratio is Tessera / baseline, both measured in the same run; absolute figures are for information only.
${met} of ${all} targets met.

${table(ran)}

![p50 and p99 latencies](bench-latency.svg)

## Runs

| benchmark | what runs | wall time | peak RSS of the benchmark process |
|---|---|---|---|
${ran.map((r) => `| ${r.name} | ${r.about} | ${r.seconds.toFixed(0)} s | ${r.peakRssMiB.toFixed(0)} MiB |`).join('\n')}

${findings}

## Raw results

${ran.map((r) => `<details><summary>${r.name}</summary>\n\n\`\`\`json\n${JSON.stringify(r.raw, null, 2)}\n\`\`\`\n</details>`).join('\n\n')}
`;
}

export function latencySvg(bars: LatencyBar[]): string {
  const rowH = 34;
  const left = 190;
  const width = 760;
  const plotW = width - left - 120; // room for the value labels right of the longest bar
  const height = 60 + bars.length * rowH;
  const values = bars.flatMap((b) => [b.p50, b.p99]).filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.min(...values, 1)));
  const hi = Math.ceil(Math.log10(Math.max(...values, 1)));
  const x = (v: number) => left + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * plotW;
  const ticks = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  const sig = (v: number) => Number(v.toPrecision(3)).toString();
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${left}" y="18" font-weight="bold">Latency per request, ms (log scale): p50 dark, p99 light</text>
${ticks.map((t) => `<line x1="${x(10 ** t)}" y1="28" x2="${x(10 ** t)}" y2="${height - 22}" stroke="#ddd"/><text x="${x(10 ** t)}" y="${height - 8}" text-anchor="middle">${10 ** t >= 1 ? 10 ** t : (10 ** t).toFixed(-t)}</text>`).join('\n')}
${bars
  .map((b, i) => {
    const y = 34 + i * rowH;
    return `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>
<rect x="${left}" y="${y + 2}" width="${Math.max(1, x(b.p99) - left)}" height="20" fill="#9ecae1"/>
<rect x="${left}" y="${y + 2}" width="${Math.max(1, x(b.p50) - left)}" height="20" fill="#3182bd"/>
<text x="${x(b.p99) + 4}" y="${y + 16}">${sig(b.p50)} / ${sig(b.p99)} ms</text>`;
  })
  .join('\n')}
</svg>
`;
}
