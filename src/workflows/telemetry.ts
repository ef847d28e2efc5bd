import { randomBytes } from 'node:crypto';

// EDGELESS's EventMetadata (edgeless_api_core/src/event_metadata.rs) and the Prometheus metrics its
// telemetry exports (edgeless_telemetry/src/prometheus_target.rs), with the same names and labels.

/** An OpenTelemetry span context as EDGELESS carries it with every event: a 16-byte trace id, an 8-byte span id. */
export interface EventMetadata {
  trace: Buffer;
  span: Buffer;
}

/**
 * A new event from outside (http-ingress, a resource's own trigger) starts a new trace. EDGELESS gives it
 * trace 0 and span 0 (`empty_new_root`), so every request's trace is the same; Tessera picks a random trace
 * id and span id instead, so each request can be followed on its own.
 */
export function newRoot(): EventMetadata {
  return { trace: randomBytes(16), span: randomBytes(8) };
}

/**
 * What a host call made while no event is current (handle_init, handle_stop) carries. EDGELESS uses
 * trace 0 with a span id naming the host call (`empty_dangling_root`, guest_api.rs); Tessera keeps those
 * span ids but gives the trace the id of the init or stop that made the call, so that what one init
 * starts shares a trace of its own.
 */
export const DANGLING_SPAN = { cast: 0x42a42bdecaf00022n, cast_raw: 0x42a42bdecaf00023n, call: 0x42a42bdecaf00024n, delayed_cast: 0x42a42bdecaf00025n } as const;

export function dangling(trace: Buffer, offset: bigint): EventMetadata {
  const span = Buffer.alloc(8);
  span.writeBigUInt64BE(offset);
  return { trace, span };
}

export const metadataHex = (m: EventMetadata) => ({ trace_id: m.trace.toString('hex'), span_id: m.span.toString('hex') });

/** EDGELESS's histogram buckets, seconds: 0.1 … 1.0. */
const BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

type Labels = Record<string, string>;

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels, extra?: [string, string]) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`);
  if (extra) parts.push(`${extra[0]}="${extra[1]}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};
const keyOf = (labels: Labels) => JSON.stringify(Object.entries(labels));

class Histogram {
  readonly counts = BUCKETS.map(() => 0);
  sum = 0;
  count = 0;
  constructor(readonly labels: Labels) {}
  observe(seconds: number) {
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]) this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
  lines(name: string): string[] {
    const out = BUCKETS.map((b, i) => `${name}_bucket${labelText(this.labels, ['le', String(b)])} ${this.counts[i]}`);
    out.push(`${name}_bucket${labelText(this.labels, ['le', '+Inf'])} ${this.count}`, `${name}_sum${labelText(this.labels)} ${this.sum}`, `${name}_count${labelText(this.labels)} ${this.count}`);
    return out;
  }
}

/**
 * The node's workflow metrics, in Prometheus's text format (GET /metrics): `function_count` (gauge:
 * instances running, by node and function type), `execution_times` (histogram, seconds: each handled
 * event, by instance and CAST/CALL) and `transfer_times` (histogram, seconds: from an event's sending to
 * the start of its handling, by instance). An instance's histograms go when it does, so a node that runs
 * many short-lived workflows does not keep a series for every instance it ever ran (EDGELESS keeps them).
 */
export class WorkflowMetrics {
  private readonly counts = new Map<string, { labels: Labels; value: number }>();
  private readonly execution = new Map<string, Histogram>();
  private readonly transfer = new Map<string, Histogram>();

  functionCount(labels: { node_id: string; function_type: string }, delta: number) {
    const key = keyOf(labels);
    const entry = this.counts.get(key) ?? { labels, value: 0 };
    entry.value += delta;
    this.counts.set(key, entry);
  }

  executionTime(labels: { node_id: string; function_id: string; function_type: string; invocation_type: 'Cast' | 'Call' }, seconds: number) {
    this.histogram(this.execution, labels).observe(seconds);
  }

  transferTime(labels: { node_id: string; function_id: string }, seconds: number) {
    this.histogram(this.transfer, labels).observe(seconds);
  }

  /** Drops an instance's histograms (it has exited for good). */
  forget(functionId: string) {
    for (const map of [this.execution, this.transfer]) for (const [key, h] of map) if (h.labels.function_id === functionId) map.delete(key);
  }

  private histogram(map: Map<string, Histogram>, labels: Labels): Histogram {
    const key = keyOf(labels);
    let h = map.get(key);
    if (!h) map.set(key, (h = new Histogram(labels)));
    return h;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    out.push('# HELP function_count Function instances running on this node', '# TYPE function_count gauge');
    for (const { labels, value } of this.counts.values()) out.push(`function_count${labelText(labels)} ${value}`);
    out.push('# HELP execution_times Time to handle one event (handle_cast or handle_call), seconds', '# TYPE execution_times histogram');
    for (const h of this.execution.values()) out.push(...h.lines('execution_times'));
    out.push('# HELP transfer_times Time from an event being sent to its handling starting, seconds', '# TYPE transfer_times histogram');
    for (const h of this.transfer.values()) out.push(...h.lines('transfer_times'));
    return `${out.join('\n')}\n`;
  }
}
