import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CliResult, TESSERA, TEST_ENV, tempDir, tessera, tied } from './cli.js';

// Running the example a command's --help shows, as a user would paste it into a shell. Each new command's
// help has an "Example:" heading followed by one `$ …` line; `helpExample` reads it from the real help
// output, and `runExample` runs it with /bin/sh in a folder the test prepared, with `tessera` on PATH
// (this checkout's bin under this Node) and the environment the test gives (TESSERA_URL, TESSERA_ENCLAVE_INFO,
// TESSERA_AUDITORS…), so the line runs exactly as printed. Placeholders in angle brackets (<proposal-id>)
// are filled in from `fill`, which is how a doc's reader would fill them in too.

/** The one example line under "Example:" in `tessera ARGS --help`, without its `$ `. */
export async function helpExample(args: string[]): Promise<string> {
  const help = await tessera([...args, '--help']);
  if (help.code !== 0) throw new Error(`tessera ${args.join(' ')} --help failed: ${help.stderr}`);
  const m = /\nExamples?:\n {2}\$ (.+)\n/.exec(help.stdout);
  if (!m) throw new Error(`tessera ${args.join(' ')} --help shows no "Example:" line:\n${help.stdout}`);
  return m[1].trim();
}

let shimDir: string | undefined;
/** A folder holding a `tessera` script that runs this checkout's CLI under this Node (tied to this process). */
export function tesseraShim(): string {
  if (shimDir) return shimDir;
  shimDir = join(tempDir('tessera-shim-'), 'bin');
  mkdirSync(shimDir, { recursive: true });
  const [file, args] = tied(process.execPath, ['--no-node-snapshot', TESSERA]);
  const quoted = [file, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  writeFileSync(join(shimDir, 'tessera'), `#!/bin/sh\nexec ${quoted} "$@"\n`);
  chmodSync(join(shimDir, 'tessera'), 0o755);
  return shimDir;
}

/** Fills `<name>` placeholders; an unfilled one is an error (the example could not run as written). */
export function fillPlaceholders(line: string, fill: Record<string, string> = {}): string {
  return line.replace(/<([a-z][a-z0-9-]*)>/g, (whole, name: string) => {
    if (!(name in fill)) throw new Error(`the example '${line}' has a placeholder ${whole} the test does not fill`);
    return fill[name];
  });
}

/** Runs one shell line in `cwd` with `tessera` on PATH and `env` added. */
export function runExample(line: string, opts: { cwd: string; env?: Record<string, string>; fill?: Record<string, string> }): Promise<CliResult & { line: string }> {
  const filled = fillPlaceholders(line, opts.fill);
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', filled], { cwd: opts.cwd, env: { ...TEST_ENV, ...opts.env, PATH: `${tesseraShim()}:${process.env.PATH}` } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, line: filled }),
    );
  });
}
