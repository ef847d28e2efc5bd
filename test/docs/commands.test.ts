import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { defaultFnDir } from '../../src/node/datadir.js';
import { REPO, TEST_ENV, auditedEnclaveInfo, tempDir, tied, useEphemeralPorts } from '../helpers/cli.js';
import { type DocCommand, docCommandsOf, fillPlaceholders, printedId } from '../helpers/doc-commands.js';

// Every command of every ```sh block of README.md and docs/*.md, run as written (test/helpers/doc-commands.ts
// has the convention: skips with a reason, placeholders, continuation lines), in order, file by file.
//
// Each file runs in a temporary directory of its own, as if it were the checkout's root: `examples` links to
// the checkout's, `tessera` (and `npx tessera`) run the checkout's built bin. The README starts its node itself
// (`npm start`); any other doc runs against a node started before its first command, as `npm start` starts
// one, with members m0, m1 and m2 (the docs' governance examples have several members vote). Every listener is
// on a free port; TESSERA_URL, TESSERA_CA and TESSERA_DATA name that node, and the default address
// https://127.0.0.1:8000 in a command becomes the node's. The README sets who you are and which auditors you
// trust itself (its First steps); for the other docs the test does: TESSERA_IDENTITY is alice, and
// TESSERA_ENCLAVE_INFO and TESSERA_AUDITORS an auditor's signed measurement of the node (made outside the
// doc's directory, so a doc's own `tessera audit` commands find none of its files).
//
// What the test does in place of a command that it cannot run as written:
// - `npm install`: checks that this checkout is installed and built (the test runs from it; a fresh clone's
//   install is .ci/run's);
// - `npm start`, `tessera start`, `tessera serve`: starts the node in the background with every port free,
//   waits for its "tessera ready" line, and ends it by its pid after the file;
// - `npm test`: not run (this test is part of it).

// TESSERA_DOC_FILES=README.md,docs/fn.md runs only those (while editing them).
// TESSERA_DOCS_CHECKOUT=/path/to/a/fresh/clone (installed with its README's `npm install`) runs that checkout's
// docs with its bin and examples instead of this one's: the README's path from a fresh clone, as written.
const CHECKOUT = resolve(process.env.TESSERA_DOCS_CHECKOUT ?? REPO);
const BIN = join(CHECKOUT, 'bin', 'tessera.js');
const FILES = (process.env.TESSERA_DOC_FILES?.split(',') ?? ['README.md', ...readdirSync(join(CHECKOUT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]);
const DEMO = { users: 'alice,bob', members: 'm0' };
const DOC_NODE = { users: 'alice,bob', members: 'm0,m1,m2' };
const COMMAND_TIMEOUT_MS = 180_000;

/** A directory with `tessera` on it, running this checkout's bin under this Node. */
function binDir(): string {
  const dir = tempDir('tessera-docs-bin-');
  const script = join(dir, 'tessera');
  writeFileSync(script, `#!/bin/sh\nexec "${process.execPath}" --no-node-snapshot "${BIN}" "$@"\n`);
  chmodSync(script, 0o755);
  return dir;
}

// After each command, the shell variables it set or exported (all but bash's own and read-only ones) are
// saved, and the next command starts by reading them: `export X=…` or `I=…` on one line hold on the next.
const saveState = (file: string) =>
  `__rc=$?; for __v in $(compgen -v); do case "$__v" in ${'BASH*|_|PIPESTATUS|RANDOM|SRANDOM|SECONDS|LINENO|EPOCH*|FUNCNAME|GROUPS|PPID|SHLVL|OLDPWD|PWD|HISTCMD|COLUMNS|LINES|OPTIND|OPTARG|IFS|PS[0-9]|SHELLOPTS|UID|EUID|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|DIRSTACK|COMP_WORDBREAKS|__*'}) ;; *) declare -p "$__v" 2>/dev/null | grep -v '^declare -[a-zA-Z]*r' ;; esac; done > '${file}'; exit $__rc`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

class DocRunner {
  readonly cwd = tempDir('tessera-docs-');
  readonly state = join(this.cwd, '.doc-shell-state');
  readonly env: NodeJS.ProcessEnv;
  readonly nodes: ChildProcess[] = [];
  /** Directories outside cwd to remove after the file: the bin directory, the test's auditor files. */
  readonly scratch: string[] = [];
  lastId: string | undefined;
  url = 'https://127.0.0.1:8000';

  constructor() {
    symlinkSync(join(CHECKOUT, 'examples'), join(this.cwd, 'examples'));
    writeFileSync(this.state, '');
    const bin = binDir();
    this.scratch.push(bin);
    this.env = { ...TEST_ENV, PATH: `${bin}:${process.env.PATH}`, TESSERA_INSECURE: undefined, TESSERA_IDENTITY: undefined, TESSERA_ENCLAVE_INFO: undefined, TESSERA_AUDITORS: undefined };
  }

  /** Starts `tessera serve|start --data DIR` in the background, after putting DIR's listeners on free ports. */
  async serve(dataArg: string, subcommand: 'serve' | 'start', init?: { users: string; members: string }): Promise<void> {
    const data = resolve(this.cwd, dataArg);
    if (!existsSync(join(data, 'tessera.toml'))) {
      // What `tessera start` does on a first run, done first so that the ports can be freed before it serves.
      assert.ok(init, `${dataArg} has no tessera.toml: the doc must create it before serving it`);
      const made = await this.shell(`tessera init --data '${data}' --users ${init.users} --members ${init.members}`);
      assert.equal(made.code, 0, made.stderr);
    }
    useEphemeralPorts(data);
    this.scratch.push(defaultFnDir(data, tmpdir())); // the node's process-function cache, outside its data directory
    const [file, args] = tied(process.execPath, ['--no-node-snapshot', BIN, subcommand, '--data', data]);
    const proc = spawn(file, args, { cwd: this.cwd, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.nodes.push(proc);
    const ready = await new Promise<string>((resolveReady, reject) => {
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('tessera ready'));
        if (line) resolveReady(line);
      });
      proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      proc.on('exit', (code) => reject(new Error(`the node exited with ${code} before it was ready:\n${out}`)));
    });
    const port = ready.match(/https=[^\s]*:(\d+)/)?.[1];
    assert.ok(port, `no https address in: ${ready}`);
    this.url = `https://127.0.0.1:${port}`;
    Object.assign(this.env, { TESSERA_URL: this.url, TESSERA_CA: join(data, 'ca.pem'), TESSERA_DATA: data });
  }

  /** Runs one command line in bash, with the variables earlier commands set. */
  shell(text: string): Promise<Run> {
    const script = `set -o pipefail; source '${this.state}'\n${text}\n${saveState(this.state)}`;
    return new Promise((resolveRun) => {
      execFile(...tied('/bin/bash', ['-c', script]), { cwd: this.cwd, env: this.env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolveRun({ code, stdout, stderr });
      });
    });
  }

  async cleanup() {
    for (const proc of this.nodes) {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      }
    }
    for (const dir of [this.cwd, ...this.scratch]) rmSync(dir, { recursive: true, force: true });
  }
}

/** The command with `npx tessera` as `tessera`, and the default address as the test node's. */
const asRun = (text: string, url: string) => text.replace(/\bnpx tessera\b/g, 'tessera').replaceAll('https://127.0.0.1:8000', url);

const skipped: { file: string; line: number; text: string; why: string }[] = [];
after(() => {
  console.log(`\n${skipped.length} documented command${skipped.length === 1 ? '' : 's'} skipped:`);
  for (const s of skipped) console.log(`  ${s.file}:${s.line}  ${s.text}  — ${s.why}`);
});

for (const file of FILES) {
  const commands: DocCommand[] = docCommandsOf(join(CHECKOUT, file));
  if (!commands.length) continue;
  // A doc's commands take minutes on a busy machine: more than npm test's default per-test timeout.
  describe(`${file}: every sh command runs`, { concurrency: false, timeout: 15 * 60_000 }, () => {
    const runner = new DocRunner();
    after(() => runner.cleanup());
    let started = false;
    const ensureNode = async () => {
      if (started) return;
      started = true;
      await runner.serve('tessera-data', 'start', DOC_NODE);
      const audit = await auditedEnclaveInfo(runner.env.TESSERA_DATA!, ['docs-auditor'], { bin: BIN });
      runner.scratch.push(audit.dir);
      Object.assign(runner.env, {
        TESSERA_IDENTITY: join(runner.cwd, 'tessera-data-identities', 'alice'),
        TESSERA_ENCLAVE_INFO: audit.enclaveInfo,
        TESSERA_AUDITORS: `${audit.auditors[0].publicKey}:${audit.auditors[0].signatureFile}`,
      });
    };

    for (const command of commands) {
      test(`${file}:${command.line}  ${command.text}`, { timeout: COMMAND_TIMEOUT_MS + 60_000 }, async (t) => {
        if (command.skip) {
          skipped.push({ file, line: command.line, text: command.text, why: command.skip });
          return t.skip(command.skip);
        }
        const text = command.text.replace(/\s+#.*$/, '');
        // Only the checkout's own install: `npm install --prefix DIR` and the like run as written.
        if (/^npm (install|ci)$/.test(text)) {
          assert.ok(existsSync(join(CHECKOUT, 'node_modules')), 'this checkout is installed');
          assert.ok(existsSync(join(CHECKOUT, 'dist', 'src', 'cli', 'main.js')), 'this checkout is built (npm install builds it: the prepare script)');
          return;
        }
        if (/^npm test$/.test(text)) {
          skipped.push({ file, line: command.line, text: command.text, why: 'this test is part of npm test' });
          return t.skip('this test is part of npm test');
        }
        const server = text.match(/^(?:npm (start)|(?:npx )?tessera (serve|start)\b(.*))$/);
        if (server) {
          started = true;
          const data = server[3]?.match(/(?:--data|-d)[ =](\S+)/)?.[1] ?? 'tessera-data';
          return runner.serve(data, server[2] === 'serve' ? 'serve' : 'start', file === 'README.md' ? DEMO : DOC_NODE);
        }
        await ensureNode();
        const filled = fillPlaceholders(asRun(text, runner.url), runner.lastId);
        assert.ok(filled !== undefined, `${file}:${command.line} has a placeholder, but no command before it printed an id`);
        const r = await runner.shell(filled);
        assert.equal(r.code, 0, `${file}:${command.line}: ${filled}\nexit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
        runner.lastId = printedId(r.stdout) ?? runner.lastId;
      });
    }
  });
}

