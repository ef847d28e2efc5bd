import { randomBytes } from 'node:crypto';
import { Gauge, Histogram, Registry } from 'prom-client';

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

type ExecutionLabels = { node_id: string; function_id: string; function_type: string; invocation_type: 'Cast' | 'Call' };

/**
 * The node's workflow metrics (GET /metrics), with EDGELESS's names and labels: `function_count` (gauge:
 * instances running, by node and function type), `execution_times` (histogram, seconds: each handled
 * event, by instance and CAST/CALL) and `transfer_times` (histogram, seconds: from an event's sending to
 * the start of its handling, by instance). An instance's histograms go when it does, so a node that runs
 * many short-lived workflows does not keep a series for every instance it ever ran (EDGELESS keeps them).
 * They live in a registry of their own, which the node merges into the one it serves.
 */
export class WorkflowMetrics {
  readonly registry = new Registry();
  private readonly count = new Gauge({ name: 'function_count', help: 'Function instances running on this node', labelNames: ['node_id', 'function_type'], registers: [this.registry] });
  private readonly execution = new Histogram({ name: 'execution_times', help: 'Time to handle one event (handle_cast or handle_call), seconds', labelNames: ['node_id', 'function_id', 'function_type', 'invocation_type'], buckets: BUCKETS, registers: [this.registry] });
  private readonly transfer = new Histogram({ name: 'transfer_times', help: 'Time from an event being sent to its handling starting, seconds', labelNames: ['node_id', 'function_id'], buckets: BUCKETS, registers: [this.registry] });
  /** Each instance's label sets, so that its series can be removed when it exits. */
  private readonly series = new Map<string, { execution: Map<string, ExecutionLabels>; transfer?: { node_id: string; function_id: string } }>();

  functionCount(labels: { node_id: string; function_type: string }, delta: number) {
    if (delta >= 0) this.count.inc(labels, delta);
    else this.count.dec(labels, -delta);
  }

  executionTime(labels: ExecutionLabels, seconds: number) {
    this.of(labels.function_id).execution.set(`${labels.function_type}/${labels.invocation_type}`, labels);
    this.execution.observe(labels, seconds);
  }

  transferTime(labels: { node_id: string; function_id: string }, seconds: number) {
    this.of(labels.function_id).transfer = labels;
    this.transfer.observe(labels, seconds);
  }

  /** Drops an instance's histograms (it has exited for good). */
  forget(functionId: string) {
    const s = this.series.get(functionId);
    if (!s) return;
    for (const labels of s.execution.values()) this.execution.remove(labels);
    if (s.transfer) this.transfer.remove(s.transfer);
    this.series.delete(functionId);
  }

  private of(functionId: string) {
    let s = this.series.get(functionId);
    if (!s) this.series.set(functionId, (s = { execution: new Map() }));
    return s;
  }
}
