import { useEffect, useRef, useState } from 'preact/hooks';
import { get, json } from '../api.js';
import { ActionButton, Done, Empty, ErrorBox, LineChart, Section, Show, Table, useInterval, useLoad } from '../components.js';
import type { ViewProps } from '../main.js';

// Workflows (EDGELESS JSON): the user's running workflows (GET /v1/workflows), one inspected (GET
// /v1/workflows/:id, src/workflows/service.ts inspect) and drawn as a graph, its event rate charted from
// the instances' counters polled every 2 s (events, and the time spent handling them: the owner's own
// view of what GET /metrics gives members), started (POST /v1/workflows) and stopped (DELETE).

interface Listed {
  workflow_id: string;
  name: string;
  owner: string;
  started_at: string;
}
interface Instance {
  name: string;
  instance_id: string;
  kind: string;
  events: number;
  queued: number;
  busy: boolean;
  restarts: number;
  failed: boolean;
  /** output alias -> the function or resource it is wired to */
  outputs: Record<string, string>;
  /** events handled so far, their total and the last one's handling time */
  handled: number;
  handled_ms_total: number;
  last_handled_ms: number;
}
interface Inspected {
  id: string;
  name: string;
  owner: string;
  started_at: string;
  functions: Instance[];
  resources: Array<{ name: string; class_type: string; output_mapping: Record<string, string> }>;
}

const POLL_MS = 2000;
const HISTORY = 60;

// ---- graph ----------------------------------------------------------------------------------------

const BOX_W = 170;
const BOX_H = 52;
const GAP_X = 110;
const GAP_Y = 80;
const PAD = 24;

interface Box {
  name: string;
  kind: 'function' | 'resource';
  sub: string;
  x: number;
  y: number;
  failed?: boolean;
}
interface Edge {
  from: string;
  to: string;
  label: string;
  known: boolean;
}

/** Where the line from the centre of `b` towards (dx, dy) leaves its box. */
function exit(b: Box, dx: number, dy: number): [number, number] {
  const cx = b.x + BOX_W / 2;
  const cy = b.y + BOX_H / 2;
  const t = Math.min(dx === 0 ? Infinity : BOX_W / 2 / Math.abs(dx), dy === 0 ? Infinity : BOX_H / 2 / Math.abs(dy));
  return [cx + dx * t, cy + dy * t];
}

export function WorkflowGraph({ wf }: { wf: Inspected }) {
  const nodes: Array<Omit<Box, 'x' | 'y'>> = [
    ...wf.resources.map((r) => ({ name: r.name, kind: 'resource' as const, sub: r.class_type })),
    ...wf.functions.map((f) => ({ name: f.name, kind: 'function' as const, sub: `${f.kind.toUpperCase()} function`, failed: f.failed })),
  ];
  const cols = Math.max(1, Math.min(3, nodes.length));
  const boxes: Box[] = nodes.map((n, i) => ({ ...n, x: PAD + (i % cols) * (BOX_W + GAP_X), y: PAD + Math.floor(i / cols) * (BOX_H + GAP_Y) }));
  const byName = new Map(boxes.map((b) => [b.name, b]));
  const edges: Edge[] = [
    ...wf.functions.flatMap((f) => Object.entries(f.outputs).map(([label, to]) => ({ from: f.name, to, label, known: byName.has(to) }))),
    ...wf.resources.map((r) => [r.name, r.output_mapping ?? {}] as const).flatMap(([from, outs]) => Object.entries(outs).map(([label, to]) => ({ from, to, label, known: byName.has(to) && byName.has(from) }))),
  ];
  const rows = Math.ceil(boxes.length / cols);
  const w = PAD * 2 + cols * BOX_W + (cols - 1) * GAP_X;
  const h = PAD * 2 + rows * BOX_H + (rows - 1) * GAP_Y + 30;
  const pairs = new Set(edges.map((e) => `${e.from}\0${e.to}`));
  const description = `${boxes.length} boxes: ${boxes.map((b) => `${b.kind} ${b.name}`).join(', ')}. ${edges.length} arrows: ${edges.map((e) => `${e.from} output ${e.label} to ${e.to}`).join('; ')}.`;
  return (
    <figure class="graph">
      <svg viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={`Workflow graph. ${description}`}>
        <defs>
          <marker id="wf-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" fill="#0b5cad" />
          </marker>
        </defs>
        {boxes.map((b) => (
          <g key={b.name}>
            <rect x={b.x} y={b.y} width={BOX_W} height={BOX_H} rx={b.kind === 'resource' ? 14 : 4} fill={b.failed ? '#fdecec' : b.kind === 'resource' ? '#eef4fb' : '#ffffff'} stroke={b.failed ? '#a4161a' : '#4a4a4a'} stroke-width="1.5" stroke-dasharray={b.kind === 'resource' ? '5 3' : undefined} />
            <text x={b.x + BOX_W / 2} y={b.y + 21} text-anchor="middle" font-weight="600">
              {b.name.length > 22 ? `${b.name.slice(0, 21)}…` : b.name}
            </text>
            <text x={b.x + BOX_W / 2} y={b.y + 39} text-anchor="middle">
              {b.failed ? 'FAILED' : b.sub}
            </text>
          </g>
        ))}
        {edges.map((e, i) => {
          const a = byName.get(e.from);
          const b = byName.get(e.to);
          if (!a) return null;
          if (!b || a === b) {
            // A target the graph does not hold (outside the workflow), or the instance itself: a short stub.
            const x = a.x + BOX_W;
            const y = a.y + BOX_H / 2;
            return (
              <g key={i}>
                <line x1={x} y1={y} x2={x + 40} y2={y} stroke="#0b5cad" stroke-width="1.5" marker-end="url(#wf-arrow)" />
                <text x={x + 44} y={y + 4}>
                  {e.label} → {e.to}
                </text>
              </g>
            );
          }
          let dx = b.x - a.x;
          let dy = b.y - a.y;
          const len = Math.hypot(dx, dy) || 1;
          dx /= len;
          dy /= len;
          // Two arrows between the same boxes, one each way, are drawn side by side.
          const off = pairs.has(`${e.to}\0${e.from}`) ? 9 : 0;
          const [x1, y1] = exit(a, dx, dy);
          const [x2, y2] = exit(b, -dx, -dy);
          const ox = -dy * off;
          const oy = dx * off;
          const mx = (x1 + x2) / 2 + ox * 2;
          const my = (y1 + y2) / 2 + oy * 2;
          return (
            <g key={i}>
              <line x1={x1 + ox} y1={y1 + oy} x2={x2 + ox} y2={y2 + oy} stroke="#0b5cad" stroke-width="1.5" marker-end="url(#wf-arrow)" />
              <rect x={mx - e.label.length * 3.6 - 4} y={my - 10} width={e.label.length * 7.2 + 8} height={16} fill="#ffffff" opacity="0.9" />
              <text x={mx} y={my + 2} text-anchor="middle">
                {e.label}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption>
        Solid boxes are function instances, dashed rounded ones resources; each arrow is an output mapping, labelled with the output's name.
      </figcaption>
    </figure>
  );
}

// ---- live numbers -----------------------------------------------------------------------------------

interface Sample {
  at: number;
  wf: Inspected;
}

function Live({ id }: { id: string }) {
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState<Error | null>(null);
  const [gone, setGone] = useState(false);
  const busy = useRef(false);
  const poll = async () => {
    if (busy.current || gone) return;
    busy.current = true;
    try {
      const wf = await get<Inspected>(`/v1/workflows/${encodeURIComponent(id)}`);
      setSamples((s) => [...s.slice(-HISTORY), { at: performance.now(), wf }]);
      setError(null);
    } catch (err) {
      if ((err as { status?: number }).status === 404) setGone(true);
      setError(err as Error);
    } finally {
      busy.current = false;
    }
  };
  useEffect(() => {
    setSamples([]);
    setGone(false);
    void poll();
  }, [id]);
  useInterval(poll, POLL_MS);

  const last = samples[samples.length - 1];
  if (!last) return error ? <ErrorBox error={error} title="Could not inspect the workflow" /> : <p role="status">Inspecting…</p>;
  const wf = last.wf;
  // Events per second, per instance and in all, from the difference of counts between polls.
  const rates: number[] = [];
  const perInstance = new Map<string, number>();
  for (let i = 1; i < samples.length; i++) {
    const [a, b] = [samples[i - 1], samples[i]];
    const secs = (b.at - a.at) / 1000;
    let total = 0;
    for (const f of b.wf.functions) {
      const before = a.wf.functions.find((x) => x.instance_id === f.instance_id);
      // A restarted or replaced instance starts counting again: no negative rates.
      const d = before ? Math.max(0, f.events - before.events) / secs : 0;
      total += d;
      if (i === samples.length - 1) perInstance.set(f.instance_id, d);
    }
    rates.push(total);
  }
  const queued = samples.map((s) => s.wf.functions.reduce((n, f) => n + f.queued, 0));
  // Mean handling time of the events handled between two polls (all instances), in ms.
  const latencies: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const sum = (wf: Inspected) => wf.functions.reduce((a, f) => ({ n: a.n + f.handled, ms: a.ms + f.handled_ms_total }), { n: 0, ms: 0 });
    const [a, b] = [sum(samples[i - 1].wf), sum(samples[i].wf)];
    latencies.push(b.n > a.n ? (b.ms - a.ms) / (b.n - a.n) : 0);
  }
  const totalEvents = wf.functions.reduce((n, f) => n + f.events, 0);
  return (
    <>
      {error ? <ErrorBox error={error} title={gone ? 'The workflow is no longer running' : 'The last poll failed'} /> : null}
      <dl class="facts">
        <dt>Name</dt>
        <dd>{wf.name}</dd>
        <dt>Id</dt>
        <dd class="mono">{wf.id}</dd>
        <dt>Started</dt>
        <dd>{new Date(wf.started_at).toLocaleString()}</dd>
      </dl>
      <WorkflowGraph wf={wf} />
      <p aria-live="polite" aria-atomic="true">
        {totalEvents} events handled · {rates.length ? rates[rates.length - 1].toFixed(1) : '—'} events/s · {queued[queued.length - 1]} queued
      </p>
      <div class="grid">
        <LineChart values={rates} label="Events handled per second (all instances)" unit="events/s" />
        <LineChart values={latencies} label="Mean time to handle an event" unit="ms" />
        <LineChart values={queued} label="Events queued (all instances)" unit="events" />
      </div>
      <p class="empty">Rates and latencies come from the instances' counters, polled every {POLL_MS / 1000} s.</p>
      <table>
        <caption class="empty">Instances</caption>
        <thead>
          <tr>
            <th scope="col">Function</th>
            <th scope="col">Kind</th>
            <th scope="col">Events</th>
            <th scope="col">Events/s</th>
            <th scope="col">Mean ms</th>
            <th scope="col">Queued</th>
            <th scope="col">Busy</th>
            <th scope="col">Restarts (last min)</th>
            <th scope="col">Outputs</th>
          </tr>
        </thead>
        <tbody>
          {wf.functions.map((f) => (
            <tr key={f.instance_id}>
              <th scope="row">
                {f.name} {f.failed ? <span class="badge bad">failed</span> : null}
                <div class="mono" title="instance id">
                  {f.instance_id}
                </div>
              </th>
              <td>{f.kind}</td>
              <td>{f.events}</td>
              <td>{perInstance.has(f.instance_id) ? perInstance.get(f.instance_id)!.toFixed(1) : '—'}</td>
              <td>{f.handled ? (f.handled_ms_total / f.handled).toFixed(2) : '—'}</td>
              <td>{f.queued}</td>
              <td>{f.busy ? 'yes' : 'no'}</td>
              <td class={f.restarts > 0 ? 'bad' : undefined}>{f.restarts}</td>
              <td class="mono">
                {Object.entries(f.outputs).length === 0
                  ? '—'
                  : Object.entries(f.outputs).map(([k, v]) => (
                      <div key={k}>
                        {k} → {v}
                      </div>
                    ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {wf.resources.length ? (
        <table>
          <caption class="empty">Resources</caption>
          <thead>
            <tr>
              <th scope="col">Resource</th>
              <th scope="col">Class</th>
            </tr>
          </thead>
          <tbody>
            {wf.resources.map((r) => (
              <tr key={r.name}>
                <th scope="row">{r.name}</th>
                <td class="mono">{r.class_type}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}

// ---- start ------------------------------------------------------------------------------------------

const readText = (f: File) => f.text();
const b64 = async (f: File) => {
  const bytes = new Uint8Array(await f.arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};

type SpecLike = { functions?: Array<{ name?: string; class_specification?: { code?: string; binary?: string; function_type?: string } }>; resources?: Array<{ name?: string; output_mapping?: Record<string, string> }> };

/** Inlines each function's `code` file (chosen alongside) as base64 `binary`, as `tessera workflow start` does. */
async function inlineCode(spec: SpecLike, files: File[]): Promise<SpecLike> {
  for (const f of spec.functions ?? []) {
    const cls = f.class_specification;
    if (!cls || cls.binary || !cls.code || cls.function_type === 'BUILTIN' || cls.function_type === 'CONTAINER') continue;
    const base = cls.code.split('/').pop();
    const file = files.find((x) => x.name === base);
    if (!file) throw new Error(`function '${f.name}' names code file '${cls.code}': choose it under "Code files" (or put its code inline as base64 in class_specification.binary)`);
    cls.binary = await b64(file);
    delete cls.code;
  }
  return spec;
}

function Start({ onStarted }: { onStarted: (id: string) => void }) {
  const [text, setText] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const codeInput = useRef<HTMLInputElement>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setDone(null);
    let spec: SpecLike;
    try {
      if (!text.trim()) throw new Error('paste the workflow JSON, or choose its file');
      try {
        spec = JSON.parse(text) as SpecLike;
      } catch (err) {
        throw new Error(`the workflow is not JSON: ${(err as Error).message}`);
      }
      if (!spec || typeof spec !== 'object' || Array.isArray(spec)) throw new Error('the workflow must be a JSON object with functions and resources');
      setBusy(true);
      spec = await inlineCode(spec, [...(codeInput.current?.files ?? [])]);
      const r = await json<{ workflow_id: string; name: string }>('POST', '/v1/workflows', { ...(name.trim() ? { name: name.trim() } : {}), spec });
      setDone(`Started workflow ${r.name} (${r.workflow_id})`);
      onStarted(r.workflow_id);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit}>
      <label>
        Name (optional; letters, digits, '_', '.', '-')
        <input name="workflow-name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} pattern="[A-Za-z0-9_.\-]{1,64}" autocomplete="off" />
      </label>
      <label>
        Workflow file (EDGELESS JSON)
        <input
          type="file"
          name="workflow-file"
          accept=".json,application/json"
          onChange={async (e) => {
            const f = (e.target as HTMLInputElement).files?.[0];
            if (f) setText(await readText(f));
          }}
        />
      </label>
      <label>
        Workflow JSON
        <textarea name="workflow-json" rows={8} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} spellcheck={false} placeholder='{ "functions": [ … ], "resources": [ … ], "annotations": {} }' />
      </label>
      <label>
        Code files its functions name in <code>class_specification.code</code> (optional, several allowed)
        <input ref={codeInput} type="file" name="code-files" multiple />
      </label>
      <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
        {busy ? 'Starting…' : 'Start workflow'}
      </button>
      <Done message={done} />
      {error ? <ErrorBox error={error} title="Not started" /> : null}
    </form>
  );
}

// ---- the view -----------------------------------------------------------------------------------------

const selectedOf = () => decodeURIComponent(location.hash.replace(/^#\/?/, '').split('/')[1] ?? '') || null;

export default function WorkflowsView({ session }: ViewProps) {
  const list = useLoad(() => get<{ workflows: Listed[] }>('/v1/workflows').then((r) => r.workflows), [session.tls?.name]);
  const [selected, setSelected] = useState<string | null>(selectedOf());
  useEffect(() => {
    const on = () => setSelected(selectedOf());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  if (session.tls?.role !== 'user') return <ErrorBox error="Workflows belong to users: sign in as a user (Sign in, top right) to see, start and stop yours." />;
  const select = (id: string | null) => {
    location.hash = id ? `#/workflows/${encodeURIComponent(id)}` : '#/workflows';
  };
  return (
    <>
      <Section title="Your running workflows" actions={<button type="button" onClick={list.reload}>Refresh</button>}>
        <Show loaded={list} what="your workflows">
          {(wfs) =>
            wfs.length === 0 ? (
              <Empty>You run no workflows. Start one below from its EDGELESS JSON (examples/workflows/ has some), or with <code>tessera workflow start</code>.</Empty>
            ) : (
              <Table head={['Name', 'Id', 'Started', 'Actions']}>
                  {wfs.map((w) => (
                    <tr key={w.workflow_id} aria-current={selected === w.workflow_id ? 'true' : undefined}>
                      <th scope="row">{w.name}</th>
                      <td class="mono">{w.workflow_id}</td>
                      <td>{new Date(w.started_at).toLocaleString()}</td>
                      <td>
                        <button type="button" aria-label={`Inspect workflow ${w.name}`} aria-pressed={selected === w.workflow_id} onClick={() => select(w.workflow_id)}>
                          Inspect
                        </button>
                        <ActionButton
                          kind="danger"
                          label={`Stop workflow ${w.name}`}
                          onClick={async () => {
                            if (!confirm(`Stop workflow ${w.name} (${w.workflow_id})? Its instances end; their synced state is kept.`)) return;
                            await json('DELETE', `/v1/workflows/${encodeURIComponent(w.workflow_id)}`);
                            if (selected === w.workflow_id) select(null);
                            list.reload();
                          }}
                        >
                          Stop
                        </ActionButton>
                      </td>
                    </tr>
                  ))}
                </Table>
            )
          }
        </Show>
      </Section>
      {selected ? (
        <Section title="Inspect" actions={<button type="button" onClick={() => select(null)}>Close</button>}>
          <Live id={selected} />
        </Section>
      ) : null}
      <Section title="Start a workflow">
        <Start
          onStarted={(id) => {
            list.reload();
            select(id);
          }}
        />
      </Section>
    </>
  );
}
