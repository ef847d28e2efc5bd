import { useEffect, useRef, useState } from 'preact/hooks';
import { get, request } from '../api.js';
import { ErrorBox, formatBytes, LineChart, Section, Show, Table, useInterval, useLoad } from '../components.js';
import type { ViewProps } from '../main.js';

// Node: what the node says it runs and what backs that up. The attestation is CCF's Quote as
// src/http/routes/node.ts quoteOf gives it: format (Insecure_Virtual for the software provider,
// AMD_SEV_SNP_v1, TDX), raw (the provider's report, base64), endorsements (what verifies it, base64) and
// measurement (Tessera's mr_enclave, src/attestation/measurement.ts). Report layouts: AMD SEV-SNP ABI
// specification, ATTESTATION_REPORT structure (offsets as src/attestation/sev-snp.ts SNP); Intel TDX DCAP
// quote v4, TD report body after the 48-byte header (src/attestation/tdx.ts TDX). All /node routes are public.

interface Quote {
  node_id: string;
  raw: string;
  endorsements: string;
  format: string;
  measurement: string;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const fromB64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
/** A measurement as typed or pasted: hex, any case, with or without 0x, spaces or colons. */
export const normalise = (s: string) => s.trim().toLowerCase().replace(/^0x/, '').replace(/[\s:]/g, '');

type Field = [name: string, value: string, what?: string];

/** The report's fields a person checks, by format; the hardware's own measurement first. */
export function reportFields(q: Quote): { fields: Field[]; hardware: Field | null; problem?: string } {
  let raw: Uint8Array;
  try {
    raw = fromB64(q.raw);
  } catch {
    return { fields: [], hardware: null, problem: 'the report (raw) is not base64' };
  }
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const at = (off: number, len: number) => hex(raw.subarray(off, off + len));
  if (q.format === 'Insecure_Virtual') {
    try {
      const r = JSON.parse(new TextDecoder().decode(raw)) as { provider?: string; report_data?: string; platform_key?: string };
      return { fields: [['provider', r.provider ?? '—'], ['report_data', r.report_data ?? '—', 'SHA-256 of the TLS key ‖ SHA-256 of measurement and time'], ['platform_key', r.platform_key ?? '—', "a key in the node's own data directory"]], hardware: null };
    } catch {
      return { fields: [], hardware: null, problem: 'the software report is not JSON' };
    }
  }
  if (q.format === 'AMD_SEV_SNP_v1') {
    if (raw.length < 0x4a0) return { fields: [], hardware: null, problem: `an SEV-SNP report is 1184 bytes; this one is ${raw.length}` };
    const hardware: Field = ['MEASUREMENT', at(0x90, 48), 'launch digest of the guest, by the AMD secure processor'];
    return {
      hardware,
      fields: [
        hardware,
        ['VERSION', String(dv.getUint32(0x00, true))],
        ['GUEST_SVN', String(dv.getUint32(0x04, true))],
        ['POLICY', `0x${dv.getBigUint64(0x08, true).toString(16)}`, 'guest policy (debug allowed if bit 19 is set)'],
        ['VMPL', String(dv.getUint32(0x30, true))],
        ['SIGNATURE_ALGO', String(dv.getUint32(0x34, true)), '1: ECDSA P-384 with SHA-384'],
        ['REPORT_DATA', at(0x50, 64), 'SHA-256 of the TLS key ‖ SHA-256 of measurement and time'],
        ['HOST_DATA', at(0xc0, 32)],
        ['ID_KEY_DIGEST', at(0xe0, 48)],
        ['REPORTED_TCB', `0x${dv.getBigUint64(0x180, true).toString(16)}`],
        ['CHIP_ID', at(0x1a0, 64)],
      ],
    };
  }
  if (q.format === 'TDX') {
    const body = 48;
    if (raw.length < body + 584) return { fields: [], hardware: null, problem: `a TDX quote holds at least ${body + 584} bytes; this one has ${raw.length}` };
    const hardware: Field = ['MRTD', at(body + 136, 48), "measurement of the TD's initial contents, by the TDX module"];
    return {
      hardware,
      fields: [
        hardware,
        ['quote version', String(dv.getUint16(0, true))],
        ['TEE type', `0x${dv.getUint32(4, true).toString(16)}`, '0x81 is TDX'],
        ['MRSEAM', at(body + 16, 48)],
        ['TDATTRIBUTES', at(body + 120, 8), 'bit 0 set: a debug TD'],
        ['MRCONFIGID', at(body + 184, 48)],
        ['MROWNER', at(body + 232, 48)],
        ['RTMR0', at(body + 328, 48)],
        ['RTMR1', at(body + 376, 48)],
        ['RTMR2', at(body + 424, 48)],
        ['RTMR3', at(body + 472, 48)],
        ['REPORTDATA', at(body + 520, 64), 'SHA-256 of the TLS key ‖ SHA-256 of measurement and time'],
      ],
    };
  }
  return { fields: [], hardware: null, problem: `unknown evidence format '${q.format}'` };
}

function Facts({ fields }: { fields: Field[] }) {
  return (
    <dl class="facts">
      {fields.map(([k, v, what]) => [
        <dt key={`${k}-t`}>{k}</dt>,
        <dd key={`${k}-d`}>
          <span class="mono">{v}</span>
          {what ? <div class="empty">{what}</div> : null}
        </dd>,
      ])}
    </dl>
  );
}

function Compare({ quote, hardware }: { quote: Quote; hardware: Field | null }) {
  const [expected, setExpected] = useState('');
  const want = normalise(expected);
  const candidates: Array<[string, string]> = [['the Tessera measurement (mr_enclave)', normalise(quote.measurement)]];
  if (hardware) candidates.push([`the hardware ${hardware[0]}`, normalise(hardware[1])]);
  const hit = want ? candidates.find(([, v]) => v === want) : undefined;
  return (
    <div>
      <label>
        Expected measurement (hex; from your signed enclave_info.toml, or your own build's <code>tessera measure</code>)
        <input name="expected-measurement" class="mono" value={expected} onInput={(e) => setExpected((e.target as HTMLInputElement).value)} spellcheck={false} autocomplete="off" />
      </label>
      <div aria-live="polite">
        {!want ? null : !/^[0-9a-f]+$/.test(want) ? (
          <p class="verdict bad">Not hex: a measurement is hexadecimal digits.</p>
        ) : hit ? (
          <p class="verdict ok">
            Match: it equals {hit[0]}.
            {quote.format === 'Insecure_Virtual' ? ' The node claims to run what you expect, but software evidence does not prove it.' : ''}
          </p>
        ) : (
          <p class="verdict bad">
            Mismatch: the node reports {candidates.map(([n, v]) => `${n} ${v}`).join(' and ')}. It does not run what you expect.
          </p>
        )}
      </div>
    </div>
  );
}

function Attestation({ q }: { q: Quote }) {
  const { fields, hardware, problem } = reportFields(q);
  const software = q.format === 'Insecure_Virtual';
  return (
    <>
      <p class={`verdict ${software ? 'bad' : 'ok'}`} role="note">
        {software
          ? 'Software evidence (Insecure_Virtual): it proves nothing about hardware. The report is signed by a key the node keeps in its own data directory, so whoever runs the machine could make it say anything. Use it for development only.'
          : q.format === 'AMD_SEV_SNP_v1'
            ? 'AMD SEV-SNP evidence: a report the AMD secure processor signs (its VCEK chain is in the endorsements). Tessera clients verify that chain, the binding to this TLS key and the measurement on every connection; this page shows the fields but does not check the signature itself.'
            : q.format === 'TDX'
              ? 'Intel TDX evidence: a quote signed by the quoting enclave (its PCK chain is in the quote). Tessera clients verify the chain, the binding to this TLS key and the measurement on every connection; this page shows the fields but does not check the signature itself.'
              : `Unknown evidence format '${q.format}': nothing can be concluded from it here.`}
      </p>
      <dl class="facts">
        <dt>Node id</dt>
        <dd class="mono">{q.node_id}</dd>
        <dt>Format</dt>
        <dd>
          <span class="badge">{q.format}</span>
        </dd>
        <dt>Tessera measurement</dt>
        <dd class="mono">{q.measurement}</dd>
      </dl>
      <h3>Report fields</h3>
      {problem ? <ErrorBox error={problem} title="The report cannot be read" /> : <Facts fields={fields} />}
      <Compare quote={q} hardware={hardware} />
      <details>
        <summary>Raw evidence (base64)</summary>
        <p>Report ({fromB64Safe(q.raw)} bytes):</p>
        <pre aria-label="raw attestation report, base64">{q.raw}</pre>
        <p>Endorsements ({fromB64Safe(q.endorsements)} bytes):</p>
        <pre aria-label="endorsements, base64">{q.endorsements || '(none)'}</pre>
      </details>
    </>
  );
}

const fromB64Safe = (s: string) => {
  try {
    return fromB64(s).length;
  } catch {
    return '?';
  }
};

interface Sessions {
  sessions: { active: number; peak: number; interfaces?: Record<string, { active: number; peak: number; soft_cap: number | null; hard_cap: number | null }> };
}
interface Memory {
  max_total_heap_size: number;
  current_allocated_heap_size: number;
  peak_allocated_heap_size: number;
}

/** The sum of a Prometheus counter's samples (text format 0.0.4), or null when it is absent. */
export function counterSum(text: string, name: string): number | null {
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) {
      sum += v;
      seen = true;
    }
  }
  return seen ? sum : null;
}

const POLL_MS = 2000;
const HISTORY = 60;

function LiveMetrics() {
  const [series, setSeries] = useState<{ sessions: number[]; heap: number[]; rps: number[] }>({ sessions: [], heap: [], rps: [] });
  const [now, setNow] = useState<{ s: Sessions; m: Memory } | null>(null);
  const [error, setError] = useState<Error | null>(null);
  // GET /metrics (Prometheus) is for members and the node only: tried once, then left alone if refused.
  const prom = useRef<{ allowed: boolean | null; last?: { at: number; total: number }; why?: string }>({ allowed: null });
  const busy = useRef(false);
  const tick = async () => {
    if (busy.current) return;
    busy.current = true;
    try {
      const [s, m] = await Promise.all([get<Sessions>('/node/metrics'), get<Memory>('/node/memory')]);
      let rps: number | null = null;
      if (prom.current.allowed !== false) {
        try {
          const total = counterSum(await (await request('GET', '/metrics')).text(), 'tessera_http_requests_total');
          prom.current.allowed = true;
          const at = performance.now();
          if (total !== null && prom.current.last) rps = Math.max(0, total - prom.current.last.total) / ((at - prom.current.last.at) / 1000);
          if (total !== null) prom.current.last = { at, total };
        } catch (err) {
          prom.current = { allowed: false, why: (err as Error).message };
        }
      }
      setNow({ s, m });
      setSeries((p) => ({
        sessions: [...p.sessions.slice(-HISTORY), s.sessions.active],
        heap: [...p.heap.slice(-HISTORY), m.current_allocated_heap_size / 1024 / 1024],
        rps: rps === null ? p.rps : [...p.rps.slice(-HISTORY), rps],
      }));
      setError(null);
    } catch (err) {
      setError(err as Error);
    } finally {
      busy.current = false;
    }
  };
  useInterval(tick, POLL_MS);
  useEffect(() => void tick(), []);
  if (!now) return error ? <ErrorBox error={error} title="Could not read the node's metrics" /> : <p role="status">Reading the node's metrics…</p>;
  return (
    <>
      {error ? <ErrorBox error={error} title="The last poll failed" /> : null}
      <p aria-live="polite" aria-atomic="true">
        {now.s.sessions.active} open connections (peak {now.s.sessions.peak}) · heap {formatBytes(now.m.current_allocated_heap_size)} of {formatBytes(now.m.max_total_heap_size)} (peak {formatBytes(now.m.peak_allocated_heap_size)})
        {series.rps.length ? ` · ${series.rps[series.rps.length - 1].toFixed(1)} requests/s` : ''}
      </p>
      <div class="grid">
        <LineChart values={series.sessions} label="Open connections (GET /node/metrics)" unit="connections" />
        <LineChart values={series.heap} label="Heap in use (GET /node/memory)" unit="MiB" />
        {prom.current.allowed ? <LineChart values={series.rps} label="Requests answered per second (GET /metrics)" unit="req/s" /> : null}
      </div>
      {prom.current.allowed === false ? (
        <p class="empty">
          Request rates and latencies are in the node's Prometheus metrics (GET /metrics), which only members and the node may read: {prom.current.why}
        </p>
      ) : null}
      <p class="empty">Polled every {POLL_MS / 1000} s while this view is open.</p>
    </>
  );
}

interface Self {
  node_id: string;
  status: string;
  primary: boolean;
  rpc_interfaces: Record<string, { bind_address: string; published_address: string; protocol: string; app_protocol: string }>;
}

export default function NodeView(_props: ViewProps) {
  const quote = useLoad(() => get<Quote>('/node/attestations/self'), []);
  const version = useLoad(() => get<{ ccf_version: string; quickjs_version: string; unsafe: boolean }>('/node/version'), []);
  const state = useLoad(() => get<{ node_id: string; state: string; last_signed_seqno: number; startup_seqno: number; stop_notice: boolean }>('/node/state'), []);
  const self = useLoad(() => get<Self>('/node/network/nodes/self'), []);
  const js = useLoad(() => get<Record<string, number | boolean>>('/node/js_metrics'), []);
  return (
    <>
      <Section title="Attestation" actions={<button type="button" onClick={quote.reload}>Refresh</button>}>
        <Show loaded={quote} what="the node's attestation">
          {(q) => <Attestation q={q} />}
        </Show>
      </Section>
      <div class="grid">
        <Section title="Version and state" actions={<button type="button" onClick={() => (version.reload(), state.reload())}>Refresh</button>}>
          <Show loaded={version} what="the node's version">
            {(v) => (
              <dl class="facts">
                <dt>Version</dt>
                <dd>{v.ccf_version}</dd>
                <dt>JS engine</dt>
                <dd>{v.quickjs_version}</dd>
                <dt>Unsafe build</dt>
                <dd class={v.unsafe ? 'bad' : undefined}>{v.unsafe ? 'yes' : 'no'}</dd>
              </dl>
            )}
          </Show>
          <Show loaded={state} what="the node's state">
            {(s) => (
              <dl class="facts">
                <dt>State</dt>
                <dd class={s.state === 'PartOfNetwork' ? 'ok' : 'bad'}>{s.state}</dd>
                <dt>Last signed seqno</dt>
                <dd>{s.last_signed_seqno}</dd>
                <dt>Resumed from seqno</dt>
                <dd>{s.startup_seqno}</dd>
                <dt>Stopping</dt>
                <dd class={s.stop_notice ? 'bad' : undefined}>{s.stop_notice ? 'yes: it takes no new work' : 'no'}</dd>
              </dl>
            )}
          </Show>
        </Section>
        <Section title="JavaScript app limits">
          <Show loaded={js} what="the app runtime's limits">
            {(m) => (
              <dl class="facts">
                {Object.entries(m).map(([k, v]) => [
                  <dt key={`${k}-t`}>{k}</dt>,
                  <dd key={`${k}-d`}>{typeof v === 'number' && /size/.test(k) ? formatBytes(v) : typeof v === 'number' && /time/.test(k) ? `${v} ms` : String(v)}</dd>,
                ])}
              </dl>
            )}
          </Show>
        </Section>
      </div>
      <Section title="Listeners" actions={<button type="button" onClick={self.reload}>Refresh</button>}>
        <Show loaded={self} what="the node's listeners">
          {(n) => (
            <>
              <p>
                Node <span class="mono">{n.node_id}</span> · {n.status} · {n.primary ? 'primary' : 'backup'}
              </p>
              <Table head={['Interface', 'Bound to', 'Published as', 'Protocol']}>
                  {Object.entries(n.rpc_interfaces).map(([name, i]) => (
                    <tr key={name}>
                      <th scope="row">{name}</th>
                      <td class="mono">{i.bind_address}</td>
                      <td class="mono">{i.published_address}</td>
                      <td>
                        {i.protocol} / {i.app_protocol}
                      </td>
                    </tr>
                  ))}
                </Table>
            </>
          )}
        </Show>
      </Section>
      <Section title="Live metrics">
        <LiveMetrics />
      </Section>
    </>
  );
}
