import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { InFlightLimit } from '../admission/in-flight.js';
import type { BuiltinWorkerPool } from '../functions/worker-pool.js';
import type { FnService } from '../functions/process/service.js';
import { sandboxUsage } from '../sandbox/usage.js';
import type { Ledger } from '../store/ledger.js';
import type { WireListener } from '../wire/listener.js';
import type { WorkflowRuntime } from '../workflows/runtime.js';

// The node's Prometheus metrics (GET /metrics; every family is listed in docs/operations.md). Each
// figure is read from its owner when the registry is scraped, so nothing on a request's path does more
// than it did before; the HTTP listener adds its own request metrics (src/http/metrics.ts).

export interface MetricSources {
  version: string;
  /** The store's counters (PostgreSQL's commits are durable as they return: it has no fsyncs of its own to count). */
  store: { stats: { commits: number; fsyncs?: number } };
  ledger: Ledger;
  builtinWorkers: BuiltinWorkerPool;
  fns: FnService;
  runtime: WorkflowRuntime;
  inFlight: { identified: InFlightLimit; anonymous: InFlightLimit };
  /** The wire listeners, as they are opened. */
  listeners: readonly WireListener[];
}

/**
 * A counter whose value is kept elsewhere as a running total (the store's commits, the isolates' CPU
 * time): set from it at each scrape. It only ever goes up, as a counter must, since its source does.
 */
function mirroredCounter(registry: Registry, name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>) {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>) {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/** The node's registry: its own families, the process's defaults, and EDGELESS's workflow metrics (their names and labels unchanged). */
export function nodeMetrics(s: MetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  gauge(registry, 'tessera_build_info', 'Always 1; the node version as a label', ['version'], () => [[{ version: s.version }, 1]]);

  mirroredCounter(registry, 'tessera_wire_requests_total', 'Requests answered by the MesaTEE wire listeners, by listener and outcome (ok or error)', ['listener', 'outcome'], () =>
    s.listeners.flatMap((l) => [[{ listener: l.name, outcome: 'ok' }, l.stats.ok] as [Record<string, string>, number], [{ listener: l.name, outcome: 'error' }, l.stats.error]]),
  );

  // Sandbox time: isolated-vm's per-isolate CPU and wall time, summed by what the isolates run.
  const usage = () => sandboxUsage();
  gauge(registry, 'tessera_sandbox_isolates', 'V8 isolates alive, by what they run (app, task, workflow, governance)', ['kind'], () => usage().map((u) => [{ kind: u.kind }, u.alive]));
  mirroredCounter(registry, 'tessera_sandbox_cpu_seconds_total', 'CPU time spent in isolates, by what they run', ['kind'], () => usage().map((u) => [{ kind: u.kind }, u.cpuSeconds]));
  mirroredCounter(registry, 'tessera_sandbox_wall_seconds_total', 'Wall-clock time isolates spent running code, by what they run', ['kind'], () => usage().map((u) => [{ kind: u.kind }, u.wallSeconds]));

  // Pools of threads and processes.
  gauge(registry, 'tessera_builtin_workers', 'Worker threads of the built-in functions, busy (running a task) or idle (started, waiting)', ['state'], () => {
    const u = s.builtinWorkers.usage;
    return [[{ state: 'busy' }, u.busy], [{ state: 'idle' }, u.idle]];
  });
  gauge(registry, 'tessera_builtin_workers_max', 'Worker threads the built-in functions may use (tasks.builtin_workers)', [], () => [[{}, s.builtinWorkers.usage.size]]);
  gauge(registry, 'tessera_builtin_queue_depth', 'Built-in function tasks waiting for a worker thread', [], () => [[{}, s.builtinWorkers.usage.queued]]);
  gauge(registry, 'tessera_fn_processes', 'Processes of process functions (Fn), by state: busy, idle or starting', ['state'], () => {
    const t = { busy: 0, idle: 0, starting: 0 };
    for (const p of s.fns.poolUsage()) (t.busy += p.busy), (t.idle += p.idle), (t.starting += p.starting);
    return Object.entries(t).map(([state, n]) => [{ state }, n]);
  });
  gauge(registry, 'tessera_fn_pools', 'Process functions with a process pool on this node', [], () => [[{}, s.fns.poolUsage().length]]);
  gauge(registry, 'tessera_fn_queue_depth', 'Process function calls waiting for a process', [], () => [[{}, s.fns.poolUsage().reduce((n, p) => n + p.waiting, 0)]]);

  // Queues.
  gauge(registry, 'tessera_workflow_instances', 'Workflow function instances on this node', [], () => [[{}, s.runtime.usage.instances]]);
  gauge(registry, 'tessera_workflow_queue_depth', "Events queued on workflow instances, summed over every instance's queue", [], () => [[{}, s.runtime.usage.queuedEvents]]);
  gauge(registry, 'tessera_workflow_threads', 'Isolate threads for workflow events (workflows.threads), busy or idle', ['state'], () => {
    const u = s.runtime.usage;
    return [[{ state: 'busy' }, u.threadsBusy], [{ state: 'idle' }, Math.max(0, Math.max(1, u.threads) - u.threadsBusy)]];
  });
  gauge(registry, 'tessera_workflow_thread_waiting', 'Instances with an event ready, waiting for an isolate thread', [], () => [[{}, s.runtime.usage.waitingForThread]]);
  gauge(registry, 'tessera_admission_in_flight', 'HTTPS requests in flight, by pool: identified callers (limits.max_requests_in_flight) or anonymous ones (limits.max_anonymous_requests_in_flight)', ['pool'], () => [
    [{ pool: 'identified' }, s.inFlight.identified.inFlight],
    [{ pool: 'anonymous' }, s.inFlight.anonymous.inFlight],
  ]);
  gauge(registry, 'tessera_admission_in_flight_limit', 'The in-flight bound of each pool', ['pool'], () => [
    [{ pool: 'identified' }, s.inFlight.identified.limit],
    [{ pool: 'anonymous' }, s.inFlight.anonymous.limit],
  ]);

  // Store and ledger.
  mirroredCounter(registry, 'tessera_store_commits_total', 'Transactions committed to the store by the node', [], () => [[{}, s.store.stats.commits]]);
  mirroredCounter(registry, 'tessera_store_fsyncs_total', 'fsyncs of the store\'s write-ahead log (one covers every commit made before it began)', [], () => [[{}, s.store.stats.fsyncs ?? 0]]);
  gauge(registry, 'tessera_ledger_entries', 'Transactions in the ledger\'s Merkle tree (added at each signature, ledger.signature_interval_ms)', [], () => [[{}, s.ledger.size.entries]]);
  gauge(registry, 'tessera_ledger_bytes', 'Stored bytes of those transactions\' write sets and claims', [], () => [[{}, s.ledger.size.bytes]]);
  gauge(registry, 'tessera_ledger_last_signed_seqno', 'The last transaction covered by a signature', [], () => [[{}, s.ledger.lastSigned()]]);

  return Registry.merge([registry, s.runtime.metrics.registry]);
}
