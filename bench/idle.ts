// Idle memory: the RSS of a started node doing nothing, and what 1,000 idle JS workflow instances
// add to a process, against the same process before it spawned them.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { SqliteStore } from '../src/store/sqlite.js';
import { WorkflowRuntime } from '../src/workflows/runtime.js';
import { startNode, tempDir } from '../test/helpers/cli.js';
import { procStatusBytes } from '../test/helpers/proc.js';

const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 1000);
const MiB = 1024 * 1024;
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function idleNode() {
  const node = await startNode({ users: ['alice'], config: (c) => (c.log.level = 'warn') });
  try {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      await settle(1000);
      samples.push(procStatusBytes(node.proc.pid!, 'VmRSS'));
    }
    return { rss_mib: Number((Math.max(...samples) / MiB).toFixed(1)), samples_mib: samples.map((s) => Number((s / MiB).toFixed(1))) };
  } finally {
    await node.cleanup();
  }
}

async function idleInstances() {
  const dir = tempDir('tessera-bench-idle-');
  const store = new SqliteStore(join(dir, 'store.sqlite'));
  const runtime = new WorkflowRuntime({ store, logger: pino({ level: 'silent' }), limits: { heapMiB: 64, eventMs: 10000 }, callTimeoutMs: 5000, maxRestartsPerMinute: 5, threads: 2 });
  global.gc?.();
  await settle(500);
  const before = process.memoryUsage().rss;
  const started = performance.now();
  for (let i = 0; i < INSTANCES; i++) {
    const id = await runtime.spawn({ workflowId: 'idle', name: `f${i}`, kind: 'js', initPayload: null, stateKey: null, code: Buffer.from('let n = 0; export function handle_cast(src, msg) { n++; }') });
    await runtime.init(id);
    if ((i + 1) % 200 === 0) process.stderr.write(`  idle instances: ${i + 1}/${INSTANCES}\n`);
  }
  const spawnSeconds = (performance.now() - started) / 1000;
  global.gc?.();
  await settle(1000);
  const after = process.memoryUsage().rss;
  runtime.castTo('idle', `f${INSTANCES - 1}`, 'still alive');
  await runtime.stopWorkflow('idle');
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return { instances: INSTANCES, added_rss_mib: Number(((after - before) / MiB).toFixed(1)), per_instance_kib: Number(((after - before) / INSTANCES / 1024).toFixed(1)), process_rss_mib: Number((after / MiB).toFixed(1)), spawn_s: Number(spawnSeconds.toFixed(2)) };
}

const node = await idleNode();
const instances = await idleInstances();
console.log(JSON.stringify({ benchmark: 'idle memory', idle_node: { ...node, target_mib: 200 }, idle_workflow_instances: { ...instances, target_mib: 1024 } }, null, 2));
