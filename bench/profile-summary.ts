// npm run profile-summary -- FILE.cpuprofile [--top N]: the functions a V8 CPU profile spent its time
// in, by self time and by inclusive time, as text. Used for bench/FINDINGS.md and docs/profiles/.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const HELP = `Usage: npm run profile-summary -- FILE.cpuprofile [--top N]

Summarises a V8 CPU profile (from node --cpu-prof): total sampled time, then the N functions with the
most self time and the N with the most inclusive time (time with their callees), in milliseconds.

Examples:
  TESSERA_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- app-kv
  npm run profile-summary -- /tmp/prof/CPU.*.cpuprofile
  npm run profile-summary -- /tmp/prof/CPU.*.cpuprofile --top 40
`;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { help: { type: 'boolean', short: 'h' }, top: { type: 'string', default: '25' } } });
if (values.help || positionals.length !== 1) {
  (values.help ? process.stdout : process.stderr).write(HELP);
  process.exit(values.help ? 0 : 2);
}
const top = Number(values.top);
if (!Number.isInteger(top) || top < 1) {
  process.stderr.write(`--top takes a positive whole number, not '${values.top}'\n`);
  process.exit(2);
}

let profile: Profile;
try {
  profile = JSON.parse(readFileSync(positionals[0], 'utf8')) as Profile;
  if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples) || !Array.isArray(profile.timeDeltas)) throw new Error('no nodes, samples and timeDeltas');
} catch (err) {
  process.stderr.write(`${positionals[0]} is not a readable V8 CPU profile: ${(err as Error).message}\n`);
  process.exit(1);
}

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;

const timeAt = new Map<number, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  timeAt.set(id, (timeAt.get(id) ?? 0) + dt);
  total += dt;
});
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, t] of timeAt) {
  const own = label(byId.get(id)!.callFrame);
  self.set(own, (self.get(own) ?? 0) + t);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!.callFrame);
    if (seen.has(l)) continue;
    seen.add(l);
    inclusive.set(l, (inclusive.get(l) ?? 0) + t);
  }
}
const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
const list = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, t]) => `${ms(t)}  ${k}`).join('\n');
process.stdout.write(`sampled: ${(total / 1000).toFixed(0)} ms\n\nself time (ms):\n${list(self)}\n\ninclusive time (ms):\n${list(inclusive)}\n`);
