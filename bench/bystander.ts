// Noisy neighbours: the REST latency one user (the bystander) sees while N other users (the tenants)
// keep the node's sandboxes busy, against the same user's latency on the same node just before, idle.
// Each tenant runs, for the whole window, a JS workflow whose function computes for ~2 s per event and
// casts to itself again, and a loop of JS tasks that compute until their CPU limit. The figure is
// loaded p99 / idle p99 of sequential GET /v1/functions and GET /v1/workflows (lower is better).
import { Agent, request } from 'node:https';
import { availableParallelism } from 'node:os';
import { type TestNode, startNode } from '../test/helpers/cli.js';
import { type HttpsReply, https } from '../test/helpers/https-client.js';
import { jsFunction } from '../test/helpers/workflows.js';
import { median, percentile } from './stats.js';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 4);
/** Sequential bystander requests per phase (the loaded phase runs at least this many, and at least the window). */
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
/** The loaded measurement window, seconds. */
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 12);
/** Pure compute per workflow event, ms. */
const EVENT_MS = Number(process.env.BENCH_EVENT_MS ?? 2000);
/** Time limit (limits.cpuMs) of each heavy task, ms: the task loops until it. */
const TASK_CPU_MS = Number(process.env.BENCH_TASK_CPU_MS ?? 1000);
/** What each tenant runs: 'mixed' (a workflow and a task loop), 'workflows' or 'tasks'. */
const LOAD = process.env.BENCH_LOAD ?? 'mixed';
if (!['mixed', 'workflows', 'tasks'].includes(LOAD)) throw new Error(`BENCH_LOAD must be mixed, workflows or tasks, not '${LOAD}'`);
const WORKFLOWS = LOAD !== 'tasks';
const TASKS = LOAD !== 'workflows';
/** The bystander's loaded p99 must stay under this. */
const TARGET_P99_MS = 100;

const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj', 'olivia', 'peggy', 'rupert', 'sybil', 'trent', 'victor', 'walter'];
const users = Array.from({ length: TENANTS + 1 }, (_, i) => NAMES[i] ?? `tenant${i}`);
const [BYSTANDER, ...TENANT_NAMES] = users;

/** Computes EVENT_MS per event (a bounded loop, in case the sandbox's clock stands still), then casts to itself again. */
const SPINNER = `
let events = 0;
function spin(ms) { const t0 = Date.now(); let i = 0; while (Date.now() - t0 < ms && i < 4e9) i++; return i; }
export function handle_init(payload, state) { edgeless.delayed_cast(10, 'self', 'go'); }
export function handle_cast(src, msg) { spin(${EVENT_MS}); events++; edgeless.cast('self', 'go'); }
export function handle_call(src, msg) { return String(events); }`;

const SPIN_TASK = {
  name: 'bench-spin',
  kind: 'js',
  type: 'Single',
  description: 'computes until its CPU limit',
  modules: { '/main.js': 'export function entrypoint() { let x = 0; for (;;) x = (x * 31 + 7) | 0; }' },
  interface: { payload: 'none', arguments: [], inputs: [], outputs: [] },
  limits: { cpuMs: TASK_CPU_MS },
};

interface Phase {
  requests: number;
  seconds: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

const round = (x: number, digits = 2) => Number(x.toFixed(digits));

/** Sequential bystander requests over one kept-alive mutual-TLS connection, alternating two read endpoints. */
async function measure(node: TestNode, agent: Agent, token: string, minRequests: number, minSeconds = 0): Promise<Phase> {
  const paths = ['/v1/functions', '/v1/workflows'];
  const latencies: number[] = [];
  const started = performance.now();
  while (latencies.length < minRequests || performance.now() - started < minSeconds * 1000) {
    const path = paths[latencies.length % paths.length];
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: node.ports.https, path, agent, servername: 'localhost', headers: { authorization: `Bearer ${token}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`GET ${path}: ${res.statusCode} ${Buffer.concat(chunks).toString()}`))));
      });
      req.on('error', reject);
      req.end();
    });
    latencies.push(performance.now() - t0);
  }
  return { requests: latencies.length, seconds: round((performance.now() - started) / 1000), p50_ms: round(median(latencies)), p99_ms: round(percentile(latencies, 99)), max_ms: round(Math.max(...latencies)) };
}

interface Tenant {
  name: string;
  workflowId?: string;
  eventsAtStart: number;
  tasksRun: number;
  tasksAtLimit: number;
  loop?: Promise<void>;
}

async function main() {
  const node = await startNode({ users, config: (c) => (c.log.level = 'warn') });
  const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
  const id = (u: string) => ({ ...node.identity(u), ca: node.ca });
  const ok = (what: string, r: HttpsReply, status = 200) => {
    if (r.status !== status) throw new Error(`${what}: ${r.status} ${r.body.toString()}`);
    return r;
  };
  const inspectEvents = async (t: Tenant) => {
    if (!t.workflowId) return 0;
    const fns = ok(`inspect ${t.name}'s workflow`, await https(url(`/v1/workflows/${t.workflowId}`), id(t.name))).json().functions as Array<{ events: number }>;
    return fns.reduce((sum, f) => sum + f.events, 0);
  };
  const tenants: Tenant[] = [];
  let stopping = false;
  const bystander = node.identity(BYSTANDER);
  const agent = new Agent({ keepAlive: true, maxSockets: 1, cert: bystander.cert, key: bystander.key, ca: node.ca });
  try {
    // Everything the bystander lists exists before the idle phase, so both phases read the same replies.
    let functionId = '';
    for (const name of TENANT_NAMES) functionId = ok(`${name} registers the spin task`, await https(url('/v1/functions'), id(name), { method: 'POST', json: SPIN_TASK }), 201).json().function_id;
    await measure(node, agent, bystander.token, 100); // warm-up
    const idle = await measure(node, agent, bystander.token, REQUESTS);
    process.stderr.write(`  idle: p50 ${idle.p50_ms} ms, p99 ${idle.p99_ms} ms over ${idle.requests} requests\n`);

    for (const name of TENANT_NAMES) {
      const tenant: Tenant = { name, eventsAtStart: 0, tasksRun: 0, tasksAtLimit: 0 };
      tenants.push(tenant);
      if (!WORKFLOWS) continue;
      const spec = { functions: [jsFunction('spinner', SPINNER, {}, { 'event-timeout-ms': '60000' })], resources: [] };
      tenant.workflowId = ok(`start ${name}'s workflow`, await https(url('/v1/workflows'), id(name), { method: 'POST', json: { spec, name: `bench-${name}` } }), 201).json().workflow_id;
    }
    for (const t of TASKS ? tenants : []) {
      t.loop = (async () => {
        while (!stopping) {
          const task = ok(`${t.name} creates a task`, await https(url('/v1/tasks'), id(t.name), { method: 'POST', json: { function_name: functionId } }), 201).json();
          const r = await https(url(`/v1/tasks/${task.task_id}/invoke`), id(t.name), { method: 'POST', json: { task_token: task.task_token } });
          t.tasksRun++;
          if (r.status === 408) t.tasksAtLimit++;
          else throw new Error(`${t.name}'s spin task: expected 408 at its CPU limit, got ${r.status} ${r.body.toString()}`);
        }
      })();
      t.loop.catch(() => {}); // awaited below; a failure ends the run there
    }
    await new Promise((r) => setTimeout(r, 500)); // every tenant's first event and task are under way
    for (const t of tenants) t.eventsAtStart = await inspectEvents(t);
    const tasksRun = () => tenants.reduce((sum, t) => sum + t.tasksRun, 0);
    const tasksAtStart = tasksRun();
    const loaded = await measure(node, agent, bystander.token, REQUESTS, WINDOW_S);
    const tasks = tasksRun() - tasksAtStart;
    const events = (await Promise.all(tenants.map(inspectEvents))).reduce((sum, n, i) => sum + n - tenants[i].eventsAtStart, 0);
    process.stderr.write(`  ${TENANTS} tenants: p50 ${loaded.p50_ms} ms, p99 ${loaded.p99_ms} ms over ${loaded.requests} requests in ${loaded.seconds} s; ${events} workflow events of ${EVENT_MS} ms and ${tasks} tasks stopped at ${TASK_CPU_MS} ms ran\n`);

    stopping = true;
    for (const t of tenants) if (t.workflowId) ok(`stop ${t.name}'s workflow`, await https(url(`/v1/workflows/${t.workflowId}`), id(t.name), { method: 'DELETE' }));
    await Promise.all(tenants.map((t) => t.loop));
    console.log(
      JSON.stringify(
        {
          benchmark: 'bystander REST latency while other tenants run heavy sandbox work',
          bystander: BYSTANDER,
          endpoints: ['GET /v1/functions', 'GET /v1/workflows'],
          tenants: TENANTS,
          load: LOAD,
          cores: availableParallelism(),
          idle,
          loaded,
          p99_ratio_loaded_vs_idle: round(loaded.p99_ms / idle.p99_ms, 3),
          p50_ratio_loaded_vs_idle: round(loaded.p50_ms / idle.p50_ms, 3),
          target_loaded_p99_ms: TARGET_P99_MS,
          work: {
            workflow_event_ms: EVENT_MS,
            workflow_events_in_window: events,
            workflow_cpu_s_in_window: round((events * EVENT_MS) / 1000, 1),
            task_time_limit_ms: TASK_CPU_MS,
            tasks_in_window: tasks,
            tasks_run_in_all: tenants.reduce((sum, t) => sum + t.tasksRun, 0),
            tasks_stopped_at_cpu_limit_in_all: tenants.reduce((sum, t) => sum + t.tasksAtLimit, 0),
          },
        },
        null,
        2,
      ),
    );
  } finally {
    stopping = true;
    agent.destroy();
    await node.stop(); // gracefully, so that TESSERA_NODE_ARGS=--cpu-prof can write its profile
    await node.cleanup();
  }
}

await main();
