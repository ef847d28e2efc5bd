// Fn process benchmark: hot-call latency and throughput through Tessera's http-stream layer against
// plain HTTP requests to the same process's socket in the same run, and the cold start (spawn, socket
// handshake, first answer) of an unmodified @fnproject/fdk function.
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Confiner } from '../src/sandbox/process/confine.js';
import { HotProcess, type ProcessSpec } from '../src/sandbox/process/hot-process.js';
import { fnDir, nodeYaml } from '../test/helpers/fn-fixtures.js';
import { mean, median, percentile } from './stats.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const COLD = Number(process.env.BENCH_COLD ?? 5);

const dir = fnDir('bench', nodeYaml('bench'), { 'func.js': "require('@fnproject/fdk').handle((input) => ({ echo: input }));" });
const confiner = new Confiner({ mode: 'none', uid: 65534, gid: 65534, pids: 50, cpus: 1, runDir: join(tmpdir(), `tessera-bench-fn-${process.pid}`), cgroups: null });
const spec: ProcessSpec = {
  launch: async ({ socketDir, env }) => confiner.launch({ codeDir: dir, command: ['node', 'func.js'], env: { FN_MEMORY: '128', FN_TYPE: 'sync', FN_FN_ID: 'bench', FN_APP_ID: 'bench', ...env }, memoryMb: 128, network: false, openFiles: 1024, socketDir }),
  socketDir: () => confiner.socketDir(),
  startTimeoutMs: 10000,
  maxResponseBytes: 1 << 20,
};
const logger = pino({ level: 'silent' });
const body = Buffer.from('{"n":1}');

const cold: number[] = [];
for (let i = 0; i < COLD; i++) {
  const t = performance.now();
  const p = new HotProcess(spec, logger);
  await p.start();
  await p.call({ callId: `cold${i}`, body, headers: { 'content-type': ['application/json'] }, deadline: new Date(Date.now() + 30000) });
  cold.push(performance.now() - t);
  p.kill();
}

const hot = new HotProcess(spec, logger);
await hot.start();
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const direct = () =>
  new Promise<void>((resolve, reject) => {
    const req = request({ socketPath: hot.socket, path: '/call', method: 'POST', agent, headers: { host: 'localhost', 'content-type': 'application/json', 'content-length': body.length, 'Fn-Call-Id': 'direct', 'Fn-Deadline': new Date(Date.now() + 30000).toISOString() } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(String(res.statusCode)))));
    });
    req.on('error', reject);
    req.end(body);
  });
const viaTessera = () => hot.call({ callId: 'hot', body, headers: { 'content-type': ['application/json'] }, deadline: new Date(Date.now() + 30000) }).then(() => undefined);

for (let i = 0; i < 100; i++) {
  await direct();
  await viaTessera();
}
const lat = { tessera: [] as number[], direct: [] as number[] };
const started = { tessera: 0, direct: 0 };
for (const [kind, fn] of [['direct', direct], ['tessera', viaTessera], ['direct', direct], ['tessera', viaTessera]] as const) {
  const t0 = performance.now();
  for (let i = 0; i < CALLS / 2; i++) {
    const t = performance.now();
    await fn();
    lat[kind].push(performance.now() - t);
  }
  started[kind] += performance.now() - t0;
}
hot.kill();
agent.destroy();
console.log(
  JSON.stringify(
    {
      benchmark: 'Fn http-stream process (@fnproject/fdk, node)',
      hot_call: {
        calls: CALLS,
        tessera_p50_ms: Number(median(lat.tessera).toFixed(3)),
        tessera_mean_ms: Number(mean(lat.tessera).toFixed(3)),
        tessera_p99_ms: Number(percentile(lat.tessera, 99).toFixed(3)),
        direct_socket_p50_ms: Number(median(lat.direct).toFixed(3)),
        direct_socket_mean_ms: Number(mean(lat.direct).toFixed(3)),
        direct_socket_p99_ms: Number(percentile(lat.direct, 99).toFixed(3)),
        tessera_calls_per_s: Math.round(CALLS / (started.tessera / 1000)),
        direct_calls_per_s: Math.round(CALLS / (started.direct / 1000)),
        throughput_ratio_vs_direct: Number((started.direct / started.tessera).toFixed(3)),
      },
      cold_start_ms: { samples: COLD, median: Math.round(median(cold)), max: Math.round(Math.max(...cold)), fn_published: '~300 ms (docker container start)' },
    },
    null,
    2,
  ),
);
