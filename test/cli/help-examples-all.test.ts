import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import { registerApp } from '../../src/cli/commands/app.js';
import { registerAudit, registerMeasure } from '../../src/cli/commands/audit.js';
import { registerBackup } from '../../src/cli/commands/backup.js';
import { registerCompletion } from '../../src/cli/commands/completion.js';
import { registerContext } from '../../src/cli/commands/context.js';
import { registerFile } from '../../src/cli/commands/file.js';
import { registerFn } from '../../src/cli/commands/fn.js';
import { registerFunction } from '../../src/cli/commands/function.js';
import { registerGov } from '../../src/cli/commands/gov.js';
import { registerInit } from '../../src/cli/commands/init.js';
import { registerLedger } from '../../src/cli/commands/ledger.js';
import { registerServe } from '../../src/cli/commands/serve.js';
import { registerStatus } from '../../src/cli/commands/status.js';
import { registerTask } from '../../src/cli/commands/task.js';
import { registerUser } from '../../src/cli/commands/user.js';
import { registerWorkflow } from '../../src/cli/commands/workflow.js';
import { registerCluster } from '../../src/cli/commands/cluster.js';
import { startPostgres } from '../helpers/postgres.js';
import { startNats } from '../helpers/nats-server.js';
import { defaultFnDir, identitiesDirOf } from '../../src/node/datadir.js';
import { REPO, TEST_ENV, type TestNode, auditedEnclaveInfo, startNode, tempDir, tessera } from '../helpers/cli.js';
import { fillPlaceholders, runExample, tesseraShim } from '../helpers/help-examples.js';

// Every command's --help shows an example, and the first one runs as printed. The test walks the whole
// command tree from `tessera --help` (each group's "Commands:" list, aliases like `list|ls` stripped), reads
// the lines under each "Example(s)…:" heading, and runs, for every command, its first example (with the `$`
// lines before it, such as an `export`) with /bin/sh, in the order a user would: create before show,
// approve, invoke or remove, placeholders (<task-id>) filled from what earlier commands printed.
//
// Where they run: a newcomer's folder whose ./tessera-data and ./tessera-data-identities are a started
// node's (users alice and bob, one member m0 so a member's yes decides, fn.allow_direct_deploy on), with
// the examples/ folder of the checkout beside them (as after `git clone`), TESSERA_URL, TESSERA_IDENTITY
// (alice), TESSERA_ENCLAVE_INFO and TESSERA_AUDITORS set as the README's first steps set them. Commands
// that make a data directory or run a server get folders of their own: `init` a fresh one, `serve` serves
// what that `init` made, `start` a fresh one, and the top-level "getting started" lines run in order in
// another (init, serve, user add, file list against that server). A server is stopped by its pid once it
// printed "tessera ready"; every port comes from the TESSERA_*_PORT variables set to 0, so nothing clashes.

interface HelpPage {
  command: string;
  /** The first runnable example: the `$` lines up to and including the first one that runs tessera. */
  example?: string;
}

// "Example:", "Examples:", "Examples: getting started, in order" (the top level's); not "More examples:".
const EXAMPLE_HEADING = /^Examples?:/;

/** The `$` lines under the "Example(s)…:" headings of a help text, continuation lines joined. */
function exampleLines(help: string): string[] {
  const out: string[] = [];
  let inExamples = false;
  for (const line of help.split('\n')) {
    if (EXAMPLE_HEADING.test(line)) inExamples = true;
    else if (line.trim() === '') inExamples = false;
    else if (inExamples && line.startsWith('  $ ')) out.push(line.slice(4));
    else if (inExamples && out.length && out[out.length - 1].endsWith('\\')) out[out.length - 1] += `\n${line}`;
  }
  return out;
}

/**
 * Every command and group with its first example, from the same registrations main.ts makes, help
 * rendered in this process (one CLI process per command would cost a minute of CPU on a small machine);
 * the test checks that the top-level commands are the real `tessera --help`'s.
 */
function helpTree(): HelpPage[] {
  let text = '';
  const program = new Command('tessera').exitOverride().configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s), getOutHelpWidth: () => 80 });
  for (const register of [registerInit, registerServe, registerUser, registerMeasure, registerAudit, registerFile, registerTask, registerLedger, registerGov, registerWorkflow, registerFn, registerApp, registerBackup, registerContext, registerCompletion, registerFunction, registerStatus, registerCluster]) register(program);
  const pages: HelpPage[] = [];
  const walk = (cmd: Command, path: string[]) => {
    text = '';
    cmd.outputHelp();
    const lines = exampleLines(text);
    const first = lines.findIndex((l) => /(^|\| )tessera\b/.test(l));
    pages.push({ command: ['tessera', ...path].join(' '), example: first < 0 ? undefined : lines.slice(0, first + 1).join('\n') });
    for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
  };
  for (const cmd of program.commands) walk(cmd, [cmd.name()]);
  return pages;
}

/** The command names a help text's "Commands:" lists, aliases (`list|ls`) stripped. */
function commandNames(help: string): string[] {
  const m = /\nCommands:\n([\s\S]*?)(?:\n\n|$)/.exec(help);
  if (!m) return [];
  return m[1]
    .split('\n')
    .filter((l) => /^ {2}\S/.test(l))
    .map((l) => l.trim().split(/\s+/)[0].split('|')[0])
    .filter((name) => name !== 'help');
}

// Every port a node opens, from the environment (which beats tessera.toml): free ports, no clash.
const FREE_PORTS = Object.fromEntries(
  ['HTTP', 'WIRE_TMS_EXTERNAL', 'WIRE_TMS_INTERNAL', 'WIRE_FNS', 'WIRE_KMS', 'WIRE_TDFS_EXTERNAL', 'WIRE_TDFS_INTERNAL'].map((p) => [`TESSERA_${p}_PORT`, '0']),
);

let node: TestNode;
let pages: HelpPage[];
let topHelp: string;
let cwd: string;
let env: Record<string, string>;
const fill: Record<string, string> = {};
const ran = new Map<string, string>();
const running = new Set<ChildProcess>();
const folders: string[] = [];
/** A temporary folder, removed after the tests (with the function cache of a node that served from it). */
const folder = (prefix: string) => {
  const dir = tempDir(prefix);
  folders.push(dir);
  return dir;
};

before(async () => {
  const top = await tessera(['--help']);
  topHelp = top.stdout;
  pages = [{ command: 'tessera', example: exampleLines(topHelp).find((l) => l.startsWith('tessera ')) }, ...helpTree()];
  assert.deepEqual(
    commandNames(topHelp),
    pages.filter((p) => p.command.split(' ').length === 2).map((p) => p.command.split(' ')[1]),
    "the test renders the help of every command main.ts registers",
  );
  node = await startNode({ users: ['alice', 'bob'], members: ['m0'], config: (c) => (c.fn = { allow_direct_deploy: true, start_timeout_ms: 5000 }) });
  cwd = folder('tessera-all-examples-');
  symlinkSync(node.dir, join(cwd, 'tessera-data'));
  symlinkSync(identitiesDirOf(node.dir), join(cwd, 'tessera-data-identities'));
  symlinkSync(join(REPO, 'examples'), join(cwd, 'examples'));
  const audit = await auditedEnclaveInfo(node.dir, ['auditor']);
  const home = folder('tessera-home-');
  // Where the completion example writes (a user makes it once: mkdir -p).
  // The auditors' folder the README's first steps make.
  mkdirSync(join(cwd, 'auditors'));
  mkdirSync(join(home, '.local', 'share', 'bash-completion', 'completions'), { recursive: true });
  env = {
    HOME: home,
    TESSERA_CONFIG_DIR: join(home, '.config', 'tessera'),
    TESSERA_URL: `https://127.0.0.1:${node.ports.https}`,
    TESSERA_IDENTITY: './tessera-data-identities/alice',
    TESSERA_ENCLAVE_INFO: audit.enclaveInfo,
    TESSERA_AUDITORS: `${audit.auditors[0].publicKey}:${audit.auditors[0].signatureFile}`,
  };
  // What the examples name that a user brings: their own data files, a CCF app, a task function, proposals.
  // PSI's sets: 32-byte records (a letter repeated 32 times, as examples/psi and MesaTEE's test make them).
  const records = (letters: string) => Buffer.from([...letters].map((l) => l.repeat(32)).join(''));
  writeFileSync(join(cwd, 'alice-set.bin'), records('abde'));
  writeFileSync(join(cwd, 'bob-set.bin'), records('bcd'));
  cpSync(join(REPO, 'examples', 'ccf-app'), join(cwd, 'my-app'), { recursive: true });
  copyFileSync(join(REPO, 'examples', 'functions', 'word-count', 'main.js'), join(cwd, 'count.js'));
  for (const f of ['deploy-app.json', 'set_js_app.json']) copyFileSync(join(REPO, 'test', 'fixtures', 'math-proposal.json'), join(cwd, f));
});

after(async () => {
  for (const p of running) await stop(p);
  await node.cleanup();
  for (const dir of folders) {
    rmSync(defaultFnDir(join(dir, 'tessera-data')), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});

function pageOf(command: string): HelpPage {
  const page = pages.find((p) => p.command === command);
  assert.ok(page, `no command ${command} in the help tree`);
  return page;
}

/** Runs the first example of COMMAND's help in `where` (default: the newcomer's folder); it must succeed. */
async function example(command: string, opts: { where?: string; env?: Record<string, string> } = {}) {
  const line = pageOf(command).example;
  assert.ok(line, `${command} --help shows no example`);
  const r = await runExample(line, { cwd: opts.where ?? cwd, env: opts.env ?? env, fill });
  ran.set(command, r.line);
  assert.equal(r.code, 0, `${command}: ${r.line}\n${r.stdout}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  return r;
}

/** Starts COMMAND's first example (a server) in `where`, and resolves once it printed "tessera ready". */
function serveExample(command: string, where: string): Promise<ChildProcess> {
  const line = fillPlaceholders(pageOf(command).example ?? '', fill);
  assert.match(line, /^tessera (serve|start)\b/, `${command}'s example runs a server`);
  ran.set(command, line);
  return spawnLine(line, where);
}

function stop(proc: ChildProcess): Promise<void> {
  running.delete(proc);
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    process.kill(proc.pid!, 'SIGTERM');
  });
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

test('every command and group shows an example in its --help', () => {
  const none = pages.filter((p) => !p.example).map((p) => p.command);
  assert.deepEqual(none, [], `commands whose --help shows no "$ tessera …" line under "Example(s):": ${none.join(', ')}`);
  assert.ok(pages.length > 60, `the walk found ${pages.length} commands`);
});

test('getting started (tessera --help): init, serve, user add, file list, in a folder of their own', async () => {
  const top = folder('tessera-getting-started-');
  const lines = exampleLines(topHelp);
  assert.deepEqual(lines.slice(0, 3), ['tessera init --users alice,bob --members m0', 'tessera serve', 'tessera user add carol']);
  const clean = { HOME: env.HOME, TESSERA_CONFIG_DIR: join(env.HOME, 'getting-started') };
  const run = async (line: string) => {
    const r = await runExample(line, { cwd: top, env: clean });
    assert.equal(r.code, 0, `${line}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  await run(lines[0]);
  const server = await spawnLine(lines[1], top);
  try {
    await run(lines[2]);
    assert.ok(existsSync(join(top, 'tessera-data-identities', 'carol', 'cert.pem')));
    for (const line of lines.slice(3)) await run(line);
  } finally {
    await stop(server);
  }
  ran.set('tessera', lines.join('\n'));
});

/** Starts one shell line that runs a server, resolving when it is ready. `exec`: the pid is the node's own (the
 * shim and the parent-death wrapper exec too), so it is stopped by that pid. */
function spawnLine(line: string, where: string): Promise<ChildProcess> {
  const proc = spawn('/bin/sh', ['-c', `exec ${line}`], { cwd: where, stdio: ['ignore', 'pipe', 'pipe'], env: { ...TEST_ENV, ...FREE_PORTS, PATH: `${tesseraShim()}:${process.env.PATH}` } });
  running.add(proc);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (/^tessera ready/m.test(output)) resolve(proc);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`${line} ended (${code}) before it was ready:\n${output}`)));
  });
}

test('init, serve (what init made), start: folders of their own, servers stopped by pid', async () => {
  const fresh = folder('tessera-init-');
  await example('tessera init', { where: fresh, env: { HOME: env.HOME } });
  assert.ok(existsSync(join(fresh, 'tessera-data', 'tessera.toml')));
  await stop(await serveExample('tessera serve', fresh));
  const demo = folder('tessera-start-');
  await stop(await serveExample('tessera start', demo));
  assert.ok(existsSync(join(demo, 'tessera-data', 'tessera.toml')));
});

/** COMMAND's first example is GROUP's, already run: a second run would only repeat it (or clash, as a second `user add carol`). */
function same(command: string, as: string) {
  const strip = (l = '') => l.replace(/ +#.*$/gm, '');
  assert.equal(strip(pageOf(command).example), strip(pageOf(as).example), `${command}'s first example is ${as}'s`);
  assert.ok(ran.has(as), `${as} ran before ${command}`);
  ran.set(command, ran.get(as)!);
}

const uuidOf = (out: string) => {
  const id = UUID.exec(out)?.[0];
  assert.ok(id, `no id in:\n${out}`);
  return id;
};

test('status, users, measure, audit', async () => {
  assert.match((await example('tessera status')).stdout, /healthy/);
  await example('tessera user');
  assert.ok(existsSync(join(cwd, 'tessera-data-identities', 'carol', 'cert.pem')));
  same('tessera user add', 'tessera user');
  assert.match((await example('tessera user list')).stdout, /carol/);
  await example('tessera user remove');
  await example('tessera measure');
  await example('tessera audit');
  await example('tessera audit keygen');
  await example('tessera audit sign');
  await example('tessera audit verify');
});

test('files and tasks', async () => {
  await example('tessera file');
  fill['file-id'] = uuidOf((await example('tessera file upload')).stdout);
  const alicesFile = fill['file-id'];
  assert.match((await example('tessera file list')).stdout, new RegExp(alicesFile));
  await example('tessera file get');
  fill['task-id'] = uuidOf((await example('tessera task')).stdout);
  await example('tessera task invoke');
  await example('tessera task get');
  await example('tessera task list');
  fill['task-id'] = uuidOf((await example('tessera task create')).stdout);
  // psi is built in: part of the node's measured code, no function_hash to compare.
  assert.match((await example('tessera task show')).stdout, /function_hash {2}none: a built-in function/);
  // Bob's own file, which he gives the task he reviewed.
  const bobs = await runExample('tessera file upload ./bob-set.bin -i ./tessera-data-identities/bob', { cwd, env });
  assert.equal(bobs.code, 0, bobs.stderr);
  fill['file-id'] = uuidOf(bobs.stdout);
  await example('tessera task approve');
  const invoked = await runExample('tessera task invoke <task-id>', { cwd, env, fill });
  assert.equal(invoked.code, 0, invoked.stderr);
  await example('tessera task results');
  fill['file-id'] = alicesFile;
  await example('tessera file rm');
});

test('ledger, task functions, Fn functions', async () => {
  await example('tessera ledger');
  same('tessera ledger verify', 'tessera ledger');
  await example('tessera ledger receipt');
  await example('tessera function');
  fill['function-id'] = /function id\s+([0-9a-f]{64})/.exec((await example('tessera function register')).stdout)?.[1] ?? '';
  await example('tessera function list');
  await example('tessera function show');
  await example('tessera fn');
  same('tessera fn init', 'tessera fn');
  // What `npm install` in ./hello gives: the FDK the boilerplate requires (no network in tests).
  cpSync(join(REPO, 'examples', 'fn', 'hello', 'node_modules'), join(cwd, 'hello', 'node_modules'), { recursive: true });
  await example('tessera fn deploy');
  assert.match((await example('tessera fn invoke')).stdout, /Hello Bob/);
  const list = await example('tessera fn list');
  fill['fn-id'] = /^(\S+)\s+demo\s+hello\b/m.exec(list.stdout)?.[1] ?? '';
  await example('tessera fn remove');
});

test('workflows', async () => {
  fill.id = uuidOf((await example('tessera workflow')).stdout);
  await example('tessera workflow start');
  await example('tessera workflow list');
  await example('tessera workflow inspect');
  // file-log's generator writes a line a second: the file is there after its first line.
  const line = pageOf('tessera workflow file').example!;
  for (let i = 0; i < 60 && !/\[#1\]: hello world/.test((await runExample(line, { cwd, env })).stdout); i++) await new Promise((r) => setTimeout(r, 500));
  assert.match((await example('tessera workflow file')).stdout, /\[#1\]: hello world/);
  await example('tessera workflow stop');
});

test('apps and governance (one member: m0 decides; then carol joins)', async () => {
  await example('tessera app');
  await example('tessera app deploy');
  await example('tessera app show');
  await example('tessera app remove');
  const first = (await example('tessera gov')).stdout.split(/\s+/)[0];
  fill['proposal-id'] = (await example('tessera gov propose')).stdout.split(/\s+/)[0];
  await example('tessera gov vote');
  await example('tessera gov list');
  await example('tessera gov show');
  fill['proposal-id'] = first;
  await example('tessera gov withdraw');
  await example('tessera gov keygen');
  await example('tessera gov propose-member');
  await example('tessera gov ack');
});

test('contexts, backup, restore, completion', async () => {
  await example('tessera context');
  await example('tessera context add');
  await example('tessera context use');
  await example('tessera context list');
  await example('tessera context show');
  await example('tessera context remove');
  await example('tessera backup');
  await example('tessera restore');
  await example('tessera completion');
  assert.ok(existsSync(join(env.HOME, '.local', 'share', 'bash-completion', 'completions', 'tessera')));
});

test('cluster (a first node on a real PostgreSQL and NATS, then another)', async () => {
  const pg = await startPostgres();
  const nats = await startNats();
  try {
    const settings = ['store.backend=postgres', `store.url=${pg.url}`, 'files.blob_store=nats', `nats.url=${nats.url}`].map((s) => `--set '${s}'`).join(' ');
    const first = await runExample(`tessera init --data ./node1 --users carol ${settings}`, { cwd, env });
    assert.equal(first.code, 0, first.stderr);
    await example('tessera cluster');
    assert.match((await example('tessera cluster add-node')).stdout, /Created .*node2: node node-[0-9a-f]{8}/);
  } finally {
    await pg.destroy();
    await nats.stop();
  }
  // Its own PostgreSQL, NATS and nodes, all gone again when it exits.
  const dev = await example('tessera cluster dev');
  assert.match(dev.stdout, /node2 +https:\/\/127\.0\.0\.1:\d+ +PartOfNetwork/);
  assert.match(dev.stdout, /every node answered/);
  const dir = /cluster of 2 in (\S+)/.exec(dev.stdout)?.[1] ?? '';
  assert.ok(dir && !existsSync(dir), `${dir} is removed`);
});

test('the first example of every command ran', () => {
  const missing = pages.map((p) => p.command).filter((c) => !ran.has(c));
  assert.deepEqual(missing, [], `examples not run: ${missing.join(', ')}`);
  console.log(`ran the first example of ${ran.size} commands (${pages.length} in the help tree)`);
});
