// The suite's benchmarks and issue 9's targets: which script measures what, and how its JSON output
// becomes rows of the report. Ratios are Tessera / baseline from the same run.
export interface Row {
  measure: string;
  tessera: string;
  baseline: string;
  ratio: number | null;
  target: string;
  met: boolean | null;
}

export interface LatencyBar {
  label: string;
  p50: number;
  p99: number;
}

export interface Benchmark {
  name: string;
  script: string;
  about: string;
  rows(r: any): Row[];
  latencies?(r: any): LatencyBar[];
}

const n = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const atLeast = (measure: string, tessera: number, baseline: number, target: number, unit: string): Row => {
  const ratio = tessera / baseline;
  return { measure, tessera: `${n(tessera)} ${unit}`, baseline: `${n(baseline)} ${unit}`, ratio: Number(ratio.toFixed(3)), target: `ratio ≥ ${target}`, met: ratio >= target };
};
const under = (measure: string, value: number, limit: number, unit: string, baseline = '—', digits = 2): Row => ({
  measure,
  tessera: `${n(value, digits)} ${unit}`,
  baseline,
  ratio: null,
  target: `< ${limit} ${unit}`,
  met: value < limit,
});

export const BENCHMARKS: Benchmark[] = [
  {
    name: 'echo-task',
    script: 'echo-task.js',
    about: 'single-party echo task (TMS Create + FNS Invoke) over the MesaTEE wire protocol, 8 connections; baseline: a TLS server with the same framing that echoes',
    rows: (r) => [atLeast('echo task, round-trips/s (2 per task)', r.tessera.tasks_per_s * 2, r.baseline.pairs_per_s * 2, 0.5, 'rt/s')],
    latencies: (r) => [
      { label: 'echo task', p50: r.tessera.p50_ms, p99: r.tessera.p99_ms },
      { label: 'framing baseline', p50: r.baseline.p50_ms, p99: r.baseline.p99_ms },
    ],
  },
  {
    name: 'app-kv',
    script: 'app-kv.js',
    about: 'CCF app KV endpoints over HTTPS; baseline: a plain Node HTTPS server doing the same SQLite work',
    rows: (r) => [
      atLeast('CCF app readonly KV read', r.read.tessera_req_per_s, r.read.baseline_req_per_s, 0.6, 'req/s'),
      atLeast('CCF app readwrite KV write', r.write.tessera_req_per_s, r.write.baseline_req_per_s, 0.5, 'req/s'),
      atLeast('fresh interpreter vs interpreter_reuse (read)', r.read.tessera_req_per_s, r.read_interpreter_reuse.tessera_req_per_s, 0.5, 'req/s'),
      under(`CCF app read p99 at ${r.read_wide.connections} connections`, r.read_wide.tessera_p99_ms, 5, 'ms', `${r.read_wide.baseline_p99_ms} ms`, 1),
    ],
    latencies: (r) => [
      { label: `CCF read, ${r.read_wide.connections} conns`, p50: r.read_wide.tessera_p50_ms, p99: r.read_wide.tessera_p99_ms },
      { label: `HTTPS+SQLite, ${r.read_wide.connections} conns`, p50: r.read_wide.baseline_p50_ms, p99: r.read_wide.baseline_p99_ms },
    ],
  },
  {
    name: 'workerd',
    script: 'workerd.js',
    about: 'a constant-JSON CCF app endpoint (interpreter_reuse, fresh interpreter) and a KV read endpoint over HTTPS, mTLS, keep-alive, 8 connections; baseline: workerd (Cloudflare Workers runtime, npm `workerd`) serving the same constant JSON, in the same run',
    rows: (r) => [
      atLeast('CCF app constant JSON, interpreter_reuse, vs workerd', r.interpreter_reuse.tessera_req_per_s, r.interpreter_reuse.workerd_req_per_s, 0.8, 'req/s'),
      atLeast('CCF app constant JSON, fresh interpreter, vs workerd', r.fresh_interpreter.tessera_req_per_s, r.fresh_interpreter.workerd_req_per_s, 0.4, 'req/s'),
      atLeast('CCF app KV read (interpreter_reuse) vs workerd constant JSON', r.kv_read_interpreter_reuse.tessera_req_per_s, r.kv_read_interpreter_reuse.workerd_req_per_s, 0.6, 'req/s'),
    ],
    latencies: (r) => [
      { label: 'CCF constant, reuse', p50: r.interpreter_reuse.tessera_p50_ms, p99: r.interpreter_reuse.tessera_p99_ms },
      { label: 'CCF constant, fresh', p50: r.fresh_interpreter.tessera_p50_ms, p99: r.fresh_interpreter.tessera_p99_ms },
      { label: 'workerd constant', p50: r.interpreter_reuse.workerd_p50_ms, p99: r.interpreter_reuse.workerd_p99_ms },
    ],
  },
  {
    name: 'store-rows',
    script: 'store-rows.js',
    about: 'the store with private rows sealed at rest (MAC keys, AES-256-GCM values) against the same store with rows in the clear, 10,000 rows, in one process',
    rows: (r) => [
      atLeast('sealed row point read', r.sealed.get_per_s, r.clear.get_per_s, 0.5, 'reads/s'),
      atLeast('sealed row commit (one row)', r.sealed.put_per_s, r.clear.put_per_s, 0.5, 'commits/s'),
      atLeast('sealed prefix listing (100 of 10,000 rows)', r.sealed.list_100_per_s, r.clear.list_100_per_s, 0.25, 'lists/s'),
    ],
  },
  {
    name: 'historical',
    script: 'historical.js',
    about: "a historical query (the state one past transaction wrote, a private table's sealed write) through the store's seqno-keyed cache, at 1,000 and 50,000 transactions, in one process; baseline: the same query on the smallest ledger",
    rows: (r) => [
      atLeast(`historical query, cold (first read of a seqno), ${r.largest.transactions.toLocaleString('en-US')} vs ${r.first.transactions.toLocaleString('en-US')} transactions`, 1e6 / r.largest.cold_us, 1e6 / r.first.cold_us, 0.5, 'queries/s'),
      atLeast(`historical query, warm (cached), ${r.largest.transactions.toLocaleString('en-US')} vs ${r.first.transactions.toLocaleString('en-US')} transactions`, 1e6 / r.largest.warm_us, 1e6 / r.first.warm_us, 0.5, 'queries/s'),
    ],
  },
  {
    name: 'files',
    script: 'files.js',
    about: '256 MiB upload and download through the node; baseline: raw node:crypto AES-256-GCM over the same bytes',
    rows: (r) => [
      atLeast('file upload, 256 MiB', r.upload_mib_s.median, r.raw_aes_gcm_encrypt_mib_s.median, 0.5, 'MiB/s'),
      atLeast('file download, 256 MiB', r.download_mib_s.median, r.raw_aes_gcm_decrypt_mib_s.median, 0.5, 'MiB/s'),
    ],
  },
  {
    name: 'psi',
    script: 'psi.js',
    about: 'psi and ordered_set_intersect built-ins, compute from plaintext in memory to both results',
    rows: (r) =>
      r.results.flatMap((x: any) => [
        under(`psi, ${x.records_per_side} × ${x.records_per_side}`, x.psi_s.median, x.records_per_side === '2^24' ? 60 : 2, 's', x.records_per_side === '2^24' ? 'MesaTEE ~105 s' : '—'),
        ...(x.ordered_set_intersect_s ? [under(`ordered_set_intersect, ${x.records_per_side} × ${x.records_per_side}`, x.ordered_set_intersect_s.median, 2, 's')] : []),
      ]),
  },
  {
    name: 'workflows',
    script: 'workflows.js',
    about: 'EDGELESS workflows in process; baseline: the same logic as plain JavaScript functions',
    rows: (r) => [under('workflow 5-function call chain, median', r.call_chain_5_functions.tessera_p50_ms, 0.5, 'ms', 'EDGELESS 15–20 ms', 3)],
    latencies: (r) => [
      { label: 'workflow 5-call chain', p50: r.call_chain_5_functions.tessera_p50_ms, p99: r.call_chain_5_functions.tessera_p99_ms },
      { label: 'plain JS chain', p50: r.call_chain_5_functions.plain_js_p50_ms, p99: r.call_chain_5_functions.plain_js_p99_ms },
    ],
  },
  {
    name: 'fn',
    script: 'fn.js',
    about: 'Fn hot calls to a confined @fnproject/fdk function over HTTPS /invoke (mTLS + token), 8 callers in a separate process; baseline: the same callers straight to the same hot processes’ unix sockets; cold start of a fresh function over HTTPS',
    rows: (r) => [
      atLeast(`Fn hot call over HTTPS /invoke, ${r.setup.callers} callers, ${r.setup.max_processes_per_function} processes`, r.hot_call.tessera_calls_per_s, r.hot_call.direct_calls_per_s, 0.5, 'calls/s'),
      under('Fn cold start, confined (fdk-node), median', r.cold_start_ms.median, 150, 'ms', 'Fn ~300 ms', 0),
    ],
    latencies: (r) => [
      { label: 'Fn /invoke, 8 callers', p50: r.hot_call.tessera.p50_ms, p99: r.hot_call.tessera.p99_ms },
      { label: 'Fn direct socket, 8 callers', p50: r.hot_call.direct_socket.p50_ms, p99: r.hot_call.direct_socket.p99_ms },
    ],
  },
  {
    name: 'bystander',
    script: 'bystander.js',
    about: 'REST p99 of one user while N other users (BENCH_TENANTS, 4) run heavy JS workflows and tasks on the same node; baseline: the same user’s p99 on that node idle, just before',
    rows: (r) => [
      {
        measure: `bystander REST p99, ${r.tenants} heavy tenants (ratio: loaded / idle)`,
        tessera: `${n(r.loaded.p99_ms, 1)} ms`,
        baseline: `${n(r.idle.p99_ms, 1)} ms idle`,
        ratio: r.p99_ratio_loaded_vs_idle,
        target: `loaded p99 < ${r.target_loaded_p99_ms} ms`,
        met: r.loaded.p99_ms < r.target_loaded_p99_ms,
      },
    ],
    latencies: (r) => [
      { label: 'bystander REST, idle', p50: r.idle.p50_ms, p99: r.idle.p99_ms },
      { label: `bystander, ${r.tenants} heavy tenants`, p50: r.loaded.p50_ms, p99: r.loaded.p99_ms },
    ],
  },
  {
    name: 'slow-clients',
    script: 'slow-clients.js',
    about: 'a user’s fresh-connection requests (HTTPS or wire, mTLS + token) while an attacker process holds slow connections open (issue 16, finding 10 a–c), default limits; baseline: the same user’s loop on the same node with no attack, just before',
    rows: (r) =>
      r.attacks.map((a: any) => {
        const base = r.baseline[a.alice.surface];
        return {
          measure: `slow clients ${a.id}: ${n(a.attacker.target_connections)} attacker connections, ${n(a.node.connections_held_peak)} held by the node at peak, ${n(a.attacker.closed_by_node)} closed by it; the user’s ${a.alice.surface} requests served (ratio: per second, attack / none)`,
          tessera: `${n(a.alice.served)} served, ${n(a.alice.failed)} failed in ${n(a.alice.seconds)} s, p99 ${a.alice.p99_ms ?? '—'} ms`,
          baseline: `${n(base.served)} served in ${n(base.seconds)} s, p99 ${base.p99_ms} ms`,
          ratio: a.served_per_s_ratio_vs_no_attack,
          target: 'none failed',
          met: a.alice.failed === 0,
        };
      }),
    latencies: (r) => [
      { label: 'user HTTPS, no attack', p50: r.baseline.https.p50_ms, p99: r.baseline.https.p99_ms },
      { label: 'user wire, no attack', p50: r.baseline.wire.p50_ms, p99: r.baseline.wire.p99_ms },
      ...r.attacks.filter((a: any) => a.alice.served).map((a: any) => ({ label: `user ${a.alice.surface}, attack ${a.id}`, p50: a.alice.p50_ms, p99: a.alice.p99_ms })),
    ],
  },
  {
    name: 'python',
    script: 'python.js',
    about: 'Python runs (mesapy_from_buffer, kind python): a confined python3 process per run vs Pyodide (WebAssembly) in a fresh Node process; baseline: plain unconfined python3 -I -S -B per run',
    rows: (r) => [
      { measure: 'Python cold start to answer, confined process (ratio: / plain python3)', tessera: `${n(r.confined_process.entrypoint.median, 1)} ms`, baseline: `${n(r.plain_python3.entrypoint.median, 1)} ms`, ratio: r.ratios.confined_vs_plain_cold_start, target: 'below Pyodide', met: r.confined_process.entrypoint.median < r.pyodide.cold_start_ms.median },
      { measure: 'Python cold start to answer, Pyodide (ratio: / plain python3)', tessera: `${n(r.pyodide.cold_start_ms.median, 0)} ms`, baseline: `${n(r.plain_python3.entrypoint.median, 1)} ms`, ratio: r.ratios.pyodide_vs_plain_cold_start, target: '—', met: null },
      { measure: 'Python 5M-step sum loop: confined process run / Pyodide warm call', tessera: `${n(r.confined_process.sum_loop.median, 0)} ms / ${n(r.pyodide.per_call_warm.sum_loop.median, 0)} ms`, baseline: `${n(r.plain_python3.sum_loop.median, 0)} ms`, ratio: r.ratios.pyodide_warm_vs_plain_sum_loop, target: '—', met: null },
      { measure: 'Python peak RSS: confined process / Pyodide', tessera: `${n(r.confined_process.peak_rss_mib, 1)} MiB / ${n(r.pyodide.peak_rss_mib, 0)} MiB`, baseline: `${n(r.plain_python3.peak_rss_mib, 1)} MiB`, ratio: r.ratios.pyodide_vs_confined_memory, target: '—', met: null },
    ],
  },
  {
    name: 'idle',
    script: 'idle.js',
    about: 'RSS of an idle node; memory added by 1,000 idle JS workflow instances',
    rows: (r) => [
      under('idle node RSS', r.idle_node.rss_mib, 200, 'MiB', '—', 1),
      under(`${n(r.idle_workflow_instances.instances)} idle workflow instances`, r.idle_workflow_instances.added_rss_mib, 1024, 'MiB', '—', 1),
    ],
  },
  {
    name: 'cluster',
    script: 'cluster.js',
    about: 'a cluster of 1, 2 and 3 nodes on one PostgreSQL and NATS (issue 22): echo tasks over REST and CCF app KV writes, the same clients spread over the nodes; baseline: one node of the same run',
    rows: (r) =>
      r.results.flatMap((x: any) => [
        { measure: `echo tasks over REST, ${x.nodes} node${x.nodes > 1 ? 's' : ''} (ratio: / 1 node)`, tessera: `${n(x.echo_tasks_per_s, 1)} tasks/s`, baseline: `${n(r.results[0].echo_tasks_per_s, 1)} tasks/s`, ratio: x.echo_ratio_to_one_node, target: '— (2 cores: see docs/cluster.md)', met: null },
        { measure: `CCF app KV writes, ${x.nodes} node${x.nodes > 1 ? 's' : ''} (ratio: / 1 node)`, tessera: `${n(x.kv_writes_per_s, 1)} req/s`, baseline: `${n(r.results[0].kv_writes_per_s, 1)} req/s`, ratio: x.kv_ratio_to_one_node, target: '— (2 cores: see docs/cluster.md)', met: null },
      ]),
  },
];
