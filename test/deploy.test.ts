// The deployment files (issue 20 #4, docs/deploy.md), checked without Docker or systemd running: the
// Dockerfile's stages, user, packages, volume, health check and entry point; compose.yaml against the
// Dockerfile and the node's default ports; the systemd unit by `systemd-analyze verify`; and the scripts the
// image runs (first-start configuration, health check, entry point) against real data directories and a node.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { resolveConfig } from '../src/node/config.js';
import { ENV_SETTINGS, parseValue } from '../src/node/config-env.js';
import { WIRE_LISTENERS } from '../src/node/config-schema.js';
import { REPO, TEST_ENV, type TestNode, startNode, tempDir, tessera } from './helpers/cli.js';

interface Instruction {
  op: string;
  args: string;
  line: number;
}
/** The Dockerfile's instructions, stage by stage: continuation lines joined, comments and parser directives dropped. */
function dockerStages(text: string): Array<{ from: string; name?: string; body: Instruction[] }> {
  const stages: Array<{ from: string; name?: string; body: Instruction[] }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      const next = lines[++i].trim();
      if (next.startsWith('#')) continue;
      line = `${line.slice(0, -1).trimEnd()} ${next}`;
    }
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile line ${start} is not an instruction: ${line}`);
    const op = m[1].toUpperCase();
    if (op === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(m[2]);
      assert.ok(from, `Dockerfile line ${start}: FROM image [AS name]`);
      stages.push({ from: from[1], name: from[2], body: [] });
    } else if (op === 'ARG' && stages.length === 0) {
      continue;
    } else {
      assert.ok(stages.length, `Dockerfile line ${start}: ${op} before the first FROM`);
      stages[stages.length - 1].body.push({ op, args: m[2], line: start });
    }
  }
  return stages;
}
const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
const stages = dockerStages(dockerfile);
const runtime = stages[stages.length - 1];
const last = (op: string) => runtime.body.filter((i) => i.op === op).at(-1);
const jsonArgs = (i: Instruction | undefined) => JSON.parse(i!.args.replace(/^CMD\s+/, '')) as string[];

test('Dockerfile: a build stage with dev dependencies, then a runtime stage on Node 24 (Debian bookworm) with production dependencies only', () => {
  assert.ok(stages.length >= 2, 'multi-stage');
  assert.equal(stages[0].name, 'build');
  assert.equal(runtime.name, 'runtime');
  assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
  for (const s of stages) assert.equal(s.from, '${NODE_IMAGE}');
  const build = stages[0].body.map((i) => `${i.op} ${i.args}`).join('\n');
  assert.match(build, /npm ci /);
  assert.match(build, /npm run build/);
  assert.match(build, /npm prune --omit=dev/);
  const copies = runtime.body.filter((i) => i.op === 'COPY');
  assert.ok(copies.some((c) => c.args === '--from=build /build/node_modules ./node_modules'), 'node_modules comes from the pruned build');
  assert.ok(!runtime.body.some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args)), 'nothing is installed with npm in the runtime stage');
});

test('Dockerfile: the runtime has bubblewrap and python3, runs as a user that is not root, keeps its data in a volume', () => {
  const apt = runtime.body.filter((i) => i.op === 'RUN' && /apt-get install/.test(i.args)).map((i) => i.args).join(' ');
  for (const pkg of ['bubblewrap', 'python3']) assert.match(apt, new RegExp(`\\b${pkg}\\b`));
  const user = last('USER');
  assert.ok(user, 'USER is set');
  assert.doesNotMatch(user.args.trim(), /^(root|0)(:|$)/, 'the last USER is not root');
  assert.ok(runtime.body.indexOf(user) > runtime.body.map((i) => i.op).lastIndexOf('RUN'), 'no RUN after USER needs root');
  assert.match(last('VOLUME')!.args, /\/var\/lib\/tessera/);
  const env = runtime.body.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
  assert.match(env, /TESSERA_DATA=\/var\/lib\/tessera\/data/);
  assert.match(env, /TESSERA_SEALING_KEY_FILE=\/run\/secrets\/tessera_sealing_key/);
});

test("Dockerfile: what it copies exists and is not kept out by .dockerignore; its entry point and health check are the package's", () => {
  const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const s of stages) {
    for (const c of s.body.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
      const sources = c.args.split(/\s+/).slice(0, -1);
      for (const src of sources) {
        assert.ok(existsSync(join(REPO, src)), `COPY ${src} (Dockerfile line ${c.line}) exists`);
        assert.ok(!ignored.includes(src.split('/')[0]), `COPY ${src} is not in .dockerignore`);
      }
    }
  }
  for (const kept of ['node_modules', 'dist', '.git', 'tessera-data', '*.key']) assert.ok(ignored.includes(kept), `.dockerignore keeps out ${kept}`);
  assert.ok(existsSync(join(REPO, 'bin', 'tessera.js')));
  assert.match(dockerfile, /ln -s \/opt\/tessera\/bin\/tessera\.js \/usr\/local\/bin\/tessera/);
  const entry = jsonArgs(last('ENTRYPOINT'));
  assert.equal(entry.at(-1), '/opt/tessera/deploy/docker-entrypoint.sh');
  accessSync(join(REPO, 'deploy', 'docker-entrypoint.sh'), constants.X_OK);
  assert.deepEqual(jsonArgs(last('CMD')), ['serve']);
  const health = last('HEALTHCHECK')!.args;
  assert.match(health, /CMD \["node", "\/opt\/tessera\/deploy\/healthcheck\.mjs"\]/);
  assert.match(readFileSync(join(REPO, 'deploy', 'healthcheck.mjs'), 'utf8'), /path: '\/v1\/health'/);
  const copied = runtime.body.find((i) => i.op === 'COPY' && i.args.startsWith('deploy/'))!.args;
  for (const f of ['docker-entrypoint.sh', 'listen-all.mjs', 'healthcheck.mjs']) assert.ok(copied.includes(`deploy/${f}`), `${f} is in the image`);
});

test("compose.yaml: one node from this Dockerfile, its volume, the default ports, the sealing key as a secret where the image looks", () => {
  const compose = parseYaml(readFileSync(join(REPO, 'compose.yaml'), 'utf8'), { merge: true });
  // Without a profile, `docker compose up` starts this one node only.
  const names = Object.keys(compose.services).filter((n) => !compose.services[n].profiles);
  assert.deepEqual(names, ['tessera']);
  const svc = compose.services.tessera;
  assert.equal(svc.build, '.');
  assert.ok(svc.volumes.some((v: string) => v.endsWith(':/var/lib/tessera')));
  assert.ok(compose.volumes['tessera-data'] !== undefined);
  assert.deepEqual(svc.secrets, ['tessera_sealing_key']);
  assert.equal(compose.secrets.tessera_sealing_key.file, './sealing.key');
  // Compose mounts a secret at /run/secrets/<name>.
  assert.equal(svc.environment.TESSERA_SEALING_KEY_FILE, '/run/secrets/tessera_sealing_key');
  const defaults = resolveConfig({});
  const published = svc.ports.map((p: string) => p.split(':'));
  assert.ok(published.some(([h, c]: string[]) => h === c && Number(c) === defaults.http.port), 'HTTPS on its default port');
  for (const [, c] of published) {
    const n = Number(c);
    assert.ok(n === defaults.http.port || Object.values(WIRE_LISTENERS).some((l) => l.port === n), `port ${c} is one of the node's listeners`);
    assert.match(dockerfile, new RegExp(`EXPOSE .*\\b${n}\\b`));
  }
});

test('compose.yaml, cluster profile: PostgreSQL, NATS with JetStream, and two nodes of one service whose variables are real settings', () => {
  const compose = parseYaml(readFileSync(join(REPO, 'compose.yaml'), 'utf8'), { merge: true });
  const cluster = Object.keys(compose.services).filter((n) => compose.services[n].profiles?.includes('cluster'));
  assert.deepEqual(cluster.sort(), ['nats', 'postgres', 'tessera-1', 'tessera-2']);
  const { postgres, nats } = compose.services;
  assert.match(postgres.image, /^postgres:1[5-9]/);
  assert.ok(postgres.healthcheck, 'nodes wait for the database to answer');
  assert.ok(nats.command.includes('--jetstream') && nats.command.includes('--store_dir'), 'JetStream on, with its files in a volume');
  assert.ok(nats.volumes.some((v: string) => v.endsWith(':/data')));
  // Every TESSERA_* variable a node is given is a setting (config-env.ts) or one the entry point reads.
  const entrypoint = readFileSync(join(REPO, 'deploy', 'docker-entrypoint.sh'), 'utf8');
  const nodes = ['tessera-1', 'tessera-2'].map((n) => compose.services[n]);
  for (const [i, node] of nodes.entries()) {
    for (const [name, value] of Object.entries(node.environment as Record<string, string>)) {
      const setting = ENV_SETTINGS.find((s) => s.variable === name);
      if (setting) assert.doesNotThrow(() => parseValue(setting, String(value).replace(/\$\{[^}]*\}/g, 'x')), `${name} is a valid ${setting.path.join('.')}`);
      else assert.ok(entrypoint.includes(`$${name}`) || entrypoint.includes(`\${${name}`), `tessera-${i + 1}: ${name} is neither a setting nor read by the entry point`);
    }
    assert.equal(node.environment.TESSERA_STORE_BACKEND, 'postgres');
    assert.match(node.environment.TESSERA_STORE_URL, /@postgres:5432\//);
    assert.equal(node.environment.TESSERA_FILES_BLOB_STORE, 'nats');
    assert.equal(node.environment.TESSERA_NATS_URL, 'nats://nats:4222');
    assert.deepEqual(node.secrets, ['tessera_sealing_key'], 'one service, one sealing key');
    assert.equal(node.environment.TESSERA_SEALING_KEY_FILE, '/run/secrets/tessera_sealing_key');
    assert.equal(node.ports.length, 1);
  }
  assert.notEqual(nodes[0].ports[0].split(':')[0], nodes[1].ports[0].split(':')[0], 'each node is published on a port of its own');
  assert.notEqual(nodes[0].ports[0].split(':')[0], compose.services.tessera.ports[0].split(':')[0], 'and not on the single node’s');
  // Node 2 is made from node 1's data directory, mounted read-only where TESSERA_CLUSTER_FROM points.
  assert.equal(nodes[0].environment.TESSERA_CLUSTER_FROM, undefined);
  const [volume, mount] = nodes[0].volumes[0].split(':');
  const shared = nodes[1].volumes.find((v: string) => v.startsWith(`${volume}:`));
  assert.ok(shared?.endsWith(':ro'), `node 1's volume is mounted read-only into node 2: ${shared}`);
  const mountedAt = shared.split(':')[1];
  assert.equal(nodes[1].environment.TESSERA_CLUSTER_FROM, `${mountedAt}${nodes[0].environment.TESSERA_DATA.slice(mount.length)}`);
  assert.equal(nodes[1].depends_on['tessera-1'].condition, 'service_healthy');
  for (const v of ['tessera-postgres', 'tessera-nats', 'tessera-node1', 'tessera-node2']) assert.ok(v in compose.volumes, v);
});

test('systemd unit: systemd-analyze verify accepts it, installed where the unit says', (t) => {
  let analyze = '';
  try {
    analyze = execFileSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).trim();
  } catch {
    t.skip('systemd-analyze is not installed (Debian: apt-get install systemd): the unit was not verified');
    return;
  }
  const unit = readFileSync(join(REPO, 'deploy', 'tessera.service'), 'utf8');
  // As installed: the checkout at /opt/tessera. Here it is at REPO, so that verify can check ExecStart's file.
  const dir = tempDir('tessera-unit-');
  writeFileSync(join(dir, 'tessera.service'), unit.replaceAll('/opt/tessera/', REPO));
  const r = execFileSync(analyze, ['verify', join(dir, 'tessera.service')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(r, '');
  const out = execFileSync('sh', ['-c', `"${analyze}" verify "${join(dir, 'tessera.service')}" 2>&1`], { encoding: 'utf8' });
  assert.equal(out, '', 'no warning either (a bad value is only a warning)');
  const exec = /^ExecStart=(\S+) (.*)$/m.exec(unit)!;
  assert.equal(exec[1], '/opt/tessera/bin/tessera.js');
  assert.ok(statSync(join(REPO, 'bin', 'tessera.js')).mode & 0o111, 'bin/tessera.js is executable');
  assert.match(exec[2], /^serve --data \/var\/lib\/tessera\/data$/);
  assert.match(unit, /^ReadWritePaths=\/var\/lib\/tessera$/m);
  assert.match(unit, /^Environment=TESSERA_SEALING_KEY_FILE=%d\/sealing\.key$/m);
  for (const line of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'PrivateTmp=yes', 'ProtectHome=yes', 'Delegate=yes']) assert.match(unit, new RegExp(`^${line}$`, 'm'));
  assert.doesNotMatch(unit, /^RestrictNamespaces=/m, 'bubblewrap needs namespaces');
});

test('bubblewrap works under no_new_privs as an unprivileged user, as the unit runs it (NoNewPrivileges=yes)', (t) => {
  const probe = (nnp: boolean) => {
    try {
      execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...(nnp ? ['--no-new-privs'] : []), 'bwrap', '--unshare-all', '--die-with-parent', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin', '--', '/bin/true'], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };
  if (process.getuid?.() !== 0 || !probe(false)) {
    t.skip('needs root (to become an unprivileged uid) and a bubblewrap that runs here: not checked');
    return;
  }
  assert.ok(probe(true), 'bubblewrap (not setuid) makes its namespaces with no_new_privs set');
  assert.equal(statSync(execFileSync('sh', ['-c', 'command -v bwrap'], { encoding: 'utf8' }).trim()).mode & 0o4000, 0, "Debian's bwrap is not setuid: it relies on user namespaces");
});

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'] });
});
after(() => node.cleanup());

const run = (file: string, args: string[], env: NodeJS.ProcessEnv) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(file, args, { env }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
  );

test('the health check script answers healthy for a running node, and unhealthy in one line otherwise', async () => {
  const script = join(REPO, 'deploy', 'healthcheck.mjs');
  const ok = await run(process.execPath, [script], { ...process.env, TESSERA_DATA: node.dir, TESSERA_HEALTH_PORT: String(node.ports.https) });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^healthy: \{"status":"ok"/);
  const missing = await run(process.execPath, [script], { ...process.env, TESSERA_DATA: join(tempDir(), 'none') });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^unhealthy: cannot read the data directory .*\n$/);
  const closed = await run(process.execPath, [script], { ...process.env, TESSERA_DATA: node.dir, TESSERA_HEALTH_PORT: '1' });
  assert.equal(closed.code, 1);
  assert.match(closed.stderr, /^unhealthy: connect ECONNREFUSED .*\n$/);
});

test("the first start's configuration binds every listener to 0.0.0.0, and the node accepts it", async () => {
  const dir = join(tempDir(), 'data');
  assert.equal((await tessera(['init', '--data', dir])).code, 0);
  const r = await run(process.execPath, [join(REPO, 'deploy', 'listen-all.mjs'), join(dir, 'tessera.toml')], process.env);
  assert.equal(r.code, 0, r.stderr);
  const config = resolveConfig(parseToml(readFileSync(join(dir, 'tessera.toml'), 'utf8')));
  assert.equal(config.http.host, '0.0.0.0');
  for (const name of Object.keys(WIRE_LISTENERS) as Array<keyof typeof WIRE_LISTENERS>) assert.equal(config.wire[name].host, '0.0.0.0', name);
});

test('the entry point runs any other command as tessera, and refuses to create a data directory without a sealing key', async () => {
  const bin = tempDir('tessera-bin-');
  writeFileSync(join(bin, 'tessera'), `#!/bin/sh\nexec "${process.execPath}" --no-node-snapshot "${join(REPO, 'bin', 'tessera.js')}" "$@"\n`);
  chmodSync(join(bin, 'tessera'), 0o755);
  const env = { ...TEST_ENV, PATH: `${bin}:${process.env.PATH}`, TESSERA_DATA: join(tempDir(), 'data') };
  const entry = join(REPO, 'deploy', 'docker-entrypoint.sh');
  const version = await run(entry, ['--version'], env);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  const nokey = await run(entry, ['serve'], { ...env, TESSERA_SEALING_KEY_FILE: join(tempDir(), 'absent.key') });
  assert.equal(nokey.code, 1);
  assert.match(nokey.stderr, /^tessera: no sealing key at .*absent\.key: mount one \(docs\/deploy\.md\)\n$/);
  assert.ok(!existsSync(env.TESSERA_DATA), 'nothing was created');
});
