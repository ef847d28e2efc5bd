// Every example workflow under examples/workflows/ runs as written: each examples/workflows/<name>/workflow.json
// is started with `tessera workflow start` (which inlines its code files) and checked. None is skipped.
//
// The convention (examples/workflows/README.md says the same): next to a workflow.json, an optional
// test.json says what the example needs and what shows it ran:
//   {
//     "needs": ["redis", "http-sink"],   // services this test starts, each on an ephemeral port:
//        // redis:     a redis-server; "redis://127.0.0.1:6379" and "redis://localhost:6379" in workflow.json
//        //            become its address, which the node's workflows.resources.redis.allowed_urls allows
//        // http-sink: an HTTP server recording what is sent to it; "http://localhost:10000" and
//        //            "http://127.0.0.1:10000" in workflow.json become its address, which
//        //            workflows.egress_hosts allows
//     "config": { ... },                 // merged into the node's tessera.toml; in its strings {{EXAMPLE_DIR}}
//        // (the example's folder, absolute), {{REDIS_URL}} and {{SINK_URL}} are replaced
//     "ingress": [{ "host": "...", "path": "/", "method": "POST", "body": "...", "status": 200, "reply": "substring" }],
//        // requests sent to the node's /ingress once the workflow is started ({{WF_ID}} in path is its id)
//     "expect": {
//       "events": { "<function>": <at least this many events handled> },
//       "files":  { "<file-log filename>": "<substring of what it wrote>" },
//       "sink":   "<substring of a body the http-sink received>",
//       "redis":  { "<key, {{WF_ID}} replaced>": "<substring of its value>" }
//     }
//   }
// Without test.json (or without "expect"), the example must handle at least one event in all. An example
// needing a service this test does not know fails, naming it: teach the test the service rather than
// skipping the example.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { REPO, type TestNode, startNode, tempDir, tessera } from '../helpers/cli.js';
import { workflowClient } from '../helpers/workflows.js';

const EXAMPLES = join(REPO, 'examples', 'workflows');
const KNOWN_NEEDS = new Set(['redis', 'http-sink']);

interface TestSpec {
  needs?: string[];
  config?: Record<string, unknown>;
  ingress?: Array<{ host?: string; path?: string; method?: string; body?: string; status?: number; reply?: string }>;
  expect?: { events?: Record<string, number>; files?: Record<string, string>; sink?: string; redis?: Record<string, string> };
}

const examples = readdirSync(EXAMPLES, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(EXAMPLES, d.name, 'workflow.json')))
  .map((d) => {
    const testFile = join(EXAMPLES, d.name, 'test.json');
    return { name: d.name, dir: join(EXAMPLES, d.name), spec: (existsSync(testFile) ? JSON.parse(readFileSync(testFile, 'utf8')) : {}) as TestSpec };
  });

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

const run = (file: string, args: string[]) =>
  new Promise<string>((resolve, reject) => execFile(file, args, (err, stdout, stderr) => (err ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout))));

function merge(into: Record<string, any>, from: Record<string, any>) {
  for (const [k, v] of Object.entries(from)) {
    if (Array.isArray(v) && Array.isArray(into[k])) into[k] = [...into[k], ...v];
    else if (v && typeof v === 'object' && !Array.isArray(v)) merge((into[k] ??= {}), v);
    else into[k] = v;
  }
}

let node: TestNode;
let redis: { proc: ChildProcess; port: number; url: string } | null = null;
let sink: { server: Server; url: string; bodies: string[] } | null = null;
const needs = new Set(examples.flatMap((e) => e.spec.needs ?? []));

before(async () => {
  if (needs.has('redis')) {
    const port = await freePort();
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    redis = { proc, port, url: `redis://127.0.0.1:${port}` };
    for (let i = 0; ; i++) {
      try {
        if ((await run('redis-cli', ['-p', String(port), 'ping'])).trim() === 'PONG') break;
      } catch (err) {
        if (i > 200) throw err;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  if (needs.has('http-sink')) {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    sink = { server, url: `http://localhost:${(server.address() as AddressInfo).port}`, bodies };
  }
  node = await startNode({
    users: ['alice'],
    config: (c) => {
      c.workflows ??= {};
      if (redis) merge(c, { workflows: { resources: { redis: { allowed_urls: [redis.url] } } } });
      if (sink) merge(c, { workflows: { egress_hosts: [new URL(sink.url).host, `127.0.0.1:${new URL(sink.url).port}`] } });
      for (const e of examples) if (e.spec.config) merge(c, JSON.parse(substitute(JSON.stringify(e.spec.config), e.dir)));
    },
  });
});

after(async () => {
  await node?.cleanup();
  redis?.proc.kill('SIGTERM');
  sink?.server.close();
});

function substitute(text: string, dir: string, wfId = ''): string {
  return text
    .replaceAll('{{EXAMPLE_DIR}}', dir)
    .replaceAll('{{REDIS_URL}}', redis?.url ?? '')
    .replaceAll('{{SINK_URL}}', sink?.url ?? '')
    .replaceAll('{{WF_ID}}', wfId);
}

/** The example, copied with the well-known service addresses it names pointed at the ones this test started. */
function prepared(e: (typeof examples)[number]): string {
  // The whole folder, since an example may share code with its neighbours (../counter/counter.js).
  const root = tempDir('tessera-example-');
  cpSync(EXAMPLES, root, { recursive: true });
  const copy = join(root, e.name);
  let text = readFileSync(join(copy, 'workflow.json'), 'utf8');
  if (redis) text = text.replace(/redis:\/\/(127\.0\.0\.1|localhost):6379/g, redis.url);
  if (sink) text = text.replace(/http:\/\/(127\.0\.0\.1|localhost):10000/g, sink.url);
  writeFileSync(join(copy, 'workflow.json'), text);
  return join(copy, 'workflow.json');
}

describe('examples/workflows', () => {
  test('there are examples, and ping-pong (cited by docs/workflows.md) is one', () => {
    assert.ok(examples.some((e) => e.name === 'ping-pong'));
  });

  for (const e of examples) {
    test(`${e.name} runs as written`, async () => {
      const unknown = (e.spec.needs ?? []).filter((n) => !KNOWN_NEEDS.has(n));
      assert.deepEqual(unknown, [], `examples/workflows/${e.name} needs ${unknown.join(', ')}, which test/workflows/examples.test.ts cannot provide yet`);
      const alice = workflowClient(node, 'alice');
      const flags = ['-i', join(identitiesDirOf(node.dir), 'alice'), '--url', `https://127.0.0.1:${node.ports.https}`, '--insecure-skip-verification'];
      const started = await tessera(['workflow', 'start', prepared(e), '--name', e.name, ...flags]);
      assert.equal(started.code, 0, started.stderr);
      const wid = started.stdout.trim();
      try {
        for (const req of e.spec.ingress ?? []) {
          const r = await alice.ingressAt(req.host ?? 'localhost', substitute(req.path ?? '/', e.dir, wid), { method: req.method, body: req.body });
          assert.equal(r.status, req.status ?? 200, `${req.method ?? 'GET'} ${req.path}: ${r.body.toString()}`);
          if (req.reply !== undefined) assert.ok(r.body.toString().includes(req.reply), `ingress reply ${JSON.stringify(r.body.toString())} lacks ${JSON.stringify(req.reply)}`);
        }
        const expect = e.spec.expect ?? {};
        await alice.until(async () => {
          const fns = (await alice.inspect(wid)).json().functions as Array<{ name: string; events: number; failed: boolean }>;
          assert.ok(!fns.some((f) => f.failed), `an instance of ${e.name} failed: ${JSON.stringify(fns)}`);
          if (expect.events) return Object.entries(expect.events).every(([name, n]) => (fns.find((f) => f.name === name)?.events ?? 0) >= n) || undefined;
          if (!expect.files && !expect.sink && !expect.redis) return fns.reduce((sum, f) => sum + f.events, 0) > 0 || undefined;
          return true;
        }, `${e.name}'s functions to handle their events`);
        for (const [file, text] of Object.entries(expect.files ?? {})) {
          await alice.until(async () => {
            const r = await alice.file(e.name, file);
            return r.status === 200 && (r.json().content as string).includes(text) ? true : undefined;
          }, `${e.name}'s ${file} to contain ${JSON.stringify(text)}`);
        }
        if (expect.sink !== undefined) await alice.until(async () => (sink!.bodies.some((b) => b.includes(expect.sink!)) ? true : undefined), `the http-sink to receive ${JSON.stringify(expect.sink)}`);
        for (const [key, text] of Object.entries(expect.redis ?? {})) {
          await alice.until(async () => ((await run('redis-cli', ['-p', String(redis!.port), 'get', substitute(key, e.dir, wid)])).includes(text) ? true : undefined), `redis ${key} to contain ${JSON.stringify(text)}`);
        }
      } finally {
        const stopped = await tessera(['workflow', 'stop', wid, ...flags]);
        assert.equal(stopped.code, 0, stopped.stderr);
      }
    });
  }
});
