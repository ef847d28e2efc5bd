import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packFunctionDirectory as packDirectory } from '../../sdk/client.js';
import { type ClientFlags, clientOptions, progressBar, withClient } from '../client.js';
import { type OutputFlags, output, outputOptions } from '../output.js';
import { FN_INIT_RUNTIMES, fnInit } from '../fn-init.js';
import { TesseraError } from '../../errors/index.js';
import type { Tessera } from '../../sdk/client.js';
import { expectOk, memberFromFlags } from './gov.js';
import { type ProposeFlags, submit } from './propose.js';

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function registerFn(program: Command) {
  const fn = program
    .command('fn')
    .description('Functions in any language as hot processes (Fn): init, deploy a directory as a content-addressed package, invoke, list, remove')
    .addHelpText(
      'after',
      `
Examples:
  $ tessera fn init --runtime node hello                 # Fn's boilerplate: func.yaml, func.js, package.json
  $ tessera fn deploy ./hello --app demo -i ./tessera-data-identities/alice
                                                       # packs, uploads, deploys; prints the function id
  $ tessera fn deploy ./hello --app demo --propose -i ./tessera-data-identities/m0
                                                       # as a member: uploads, proposes set_node_function
  $ echo '{"name":"Bob"}' | tessera fn invoke demo hello --content-type application/json
  $ tessera fn list
  A function's id names its owner, app and package digest: changing the code makes a new id.`,
    );

  fn.command('init [dir]')
    .description("Write the boilerplate Fn's `fn init` writes for a runtime")
    .requiredOption('--runtime <runtime>', `one of ${FN_INIT_RUNTIMES.join(', ')}`)
    .option('--name <name>', 'the function name (default: the directory name)')
    .addHelpText('after', '\nExample:\n  $ tessera fn init --runtime node hello\n\nMore examples:\n  $ tessera fn init --runtime go hello\n  $ tessera fn init --runtime python --name greet ./greet')
    .action((dir: string | undefined, flags: { runtime: string; name?: string }) => {
      const r = fnInit(resolve(dir ?? '.'), flags.runtime, flags.name);
      console.log('func.yaml created.');
      console.log(`Function boilerplate generated: ${r.files.join(', ')} in ${r.dir}`);
    });

  clientOptions(fn.command('deploy <dir>'))
    .description("Deploy a function directory (Fn's func.yaml) in one command: pack, upload and deploy it (or, with --propose, propose it as a member)")
    .option('--app <app>', 'the Fn app (trigger paths are /t/<app>/<source>)', 'default')
    .option('--propose', 'as a member: upload the package and propose set_node_function (kind process) naming its digest')
    .option('--vote', 'with --propose: also vote yes (done anyway when you are the only active member)')
    .option('--wait', 'with --propose: wait until the proposal is decided')
    .option('--timeout <seconds>', 'with --wait: how long to wait for the votes', '300')
    .option('--pack-only', 'only pack and print the digest (to check a proposal against a directory)')
    .option('--json', 'print what was deployed (or proposed) as JSON')
    .addHelpText(
      'after',
      `
The directory is packed on this machine into a canonical archive (sorted paths, modes, contents; no
times or owners), so the same directory always has the same digest. The node runs that package only,
never a path on its own disk.

A user deploys directly where the operator allows it (fn.allow_direct_deploy = true); the function is
the user's own. Otherwise a member proposes it with --propose: once the members accept, it is the
consortium's, for every user; the command says who has not voted yet.

Example:
  $ tessera fn deploy ./hello --app demo -i ./tessera-data-identities/alice

More examples:
  $ tessera fn deploy ./hello --app demo --propose -i ./tessera-data-identities/m0
  $ tessera fn deploy ./hello --pack-only                    # prints the digest a proposal should name`,
    )
    .action(async (dir: string, flags: ClientFlags & ProposeFlags & { app: string; propose?: boolean; packOnly?: boolean; json?: boolean }) => {
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TesseraError('not_found', `${dir} is not a directory: give the function's folder (with func.yaml; tessera fn init --runtime node ${dir} makes one)`);
      if (!existsSync(join(dir, 'func.yaml')) && !existsSync(join(dir, 'func.yml')) && !existsSync(join(dir, 'func.json'))) {
        throw new TesseraError('invalid_input', `${dir} has no func.yaml: a function folder holds Fn's func.yaml beside its code (tessera fn init --runtime node ${dir} makes one)`);
      }
      // Fn builds a node function's dependencies in its image; here the package is the directory as it is.
      const pkg = join(dir, 'package.json');
      if (existsSync(pkg) && !existsSync(join(dir, 'node_modules'))) {
        let deps: string[];
        try {
          deps = Object.keys((JSON.parse(readFileSync(pkg, 'utf8')) as { dependencies?: object }).dependencies ?? {});
        } catch (err) {
          throw new TesseraError('invalid_input', `${pkg} is not valid JSON: ${(err as Error).message}`);
        }
        if (deps.length) throw new TesseraError('invalid_input', `${dir} has no node_modules for its dependencies (${deps.join(', ')}): run  npm install --prefix ${dir}  first; the package holds its dependencies`);
      }
      const { bytes, digest, files } = await packDirectory(resolve(dir));
      process.stderr.write(`packed ${files} files into ${bytes.length} bytes: sha256 ${digest}\n`);
      if (flags.packOnly) return void console.log(flags.json ? JSON.stringify({ digest, files, bytes: bytes.length }) : digest);
      if (flags.propose) return propose(bytes, flags);
      const bar = progressBar('upload');
      const r = await withClient(flags, async (c) => {
        try {
          const uploaded = await c.uploadPackage(bytes, { onProgress: bar.update });
          bar.stop();
          return await c.deployFunction(uploaded.digest, flags.app);
        } finally {
          bar.stop();
        }
      });
      if (flags.json) return void console.log(JSON.stringify(r, null, 2));
      process.stderr.write(`deployed ${r.app}/${r.name} version ${r.version}: invoke it with  tessera fn invoke ${r.app} ${r.name}\n`);
      console.log(r.id);
    });

  clientOptions(fn.command('invoke <app-or-id> [function]'))
    .description("Call a function as Fn's `fn invoke APP FUNCTION` does (or by its id); the body is read from stdin")
    .option('--content-type <type>', 'the request Content-Type', 'text/plain')
    .option('--display-call-id', 'print the call id first')
    .option('--detached', 'answer at once (202); the call runs on')
    .addHelpText('after', `\nExample:\n  $ echo '{"name":"Bob"}' | tessera fn invoke demo hello --content-type application/json -i ./tessera-data-identities/alice\n\nMore examples:\n  $ tessera fn invoke 3f1c…9a --display-call-id < request.json`)
    .action(async (appOrId: string, name: string | undefined, flags: ClientFlags & { contentType: string; displayCallId?: boolean; detached?: boolean }) => {
      const r = await withClient(flags, async (c) => {
        // The function is found before stdin is read: a wrong name is reported without waiting for a body.
        const id = name === undefined ? appOrId : await idOf(c, appOrId, name);
        return c.invokeFunction(id, await readStdin(), { contentType: flags.contentType, detached: flags.detached });
      });
      if (flags.displayCallId) console.log(`Call ID: ${r.headers['fn-call-id']?.[0] ?? ''}`);
      let text = r.body.toString('utf8');
      if (r.status >= 400) {
        let message: string | undefined;
        try {
          message = (JSON.parse(text) as { message?: string; error?: { message?: string } }).message ?? (JSON.parse(text) as { error?: { message?: string } }).error?.message;
        } catch {
          /* not JSON */
        }
        process.exitCode = 1;
        if (message) text = `Error invoking function. status: ${r.status} message: ${message}`;
      }
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    });

  outputOptions(clientOptions(fn.command('list')))
    .description('List process functions, and how this node confines them')
    .addHelpText('after', '\nExamples:\n  $ tessera fn list -i ./tessera-data-identities/alice\n  $ tessera fn list --json')
    .action(async (flags: ClientFlags & OutputFlags) => {
      const { fns, confinement } = await withClient(flags, (c) => c.listFunctions());
      if (confinement.warning && !flags.json) process.stderr.write(`WARNING: ${confinement.warning}\n`);
      if (flags.json) return void console.log(JSON.stringify({ functions: fns, confinement }, null, 2));
      const rows = fns.map((f) => ({ ...f, triggerPaths: (f.triggers ?? []).map((t) => `/t/${f.app}${t.source}`).join(' ') }));
      output(flags).table(rows, [
        { key: 'id', header: 'ID' },
        { key: 'app', header: 'APP' },
        { key: 'name', header: 'NAME' },
        { key: 'version', header: 'VERSION', format: (v) => `v${v}` },
        { key: 'owner', header: 'OWNER' },
        { key: 'package', header: 'PACKAGE', format: (v) => String(v).slice(0, 12) },
        { key: 'triggerPaths', header: 'TRIGGERS' },
      ], { idKey: 'id', empty: 'no functions' });
    });

  clientOptions(fn.command('remove <id>'))
    .description('Remove one of your own functions')
    .addHelpText('after', '\nExample:\n  $ tessera fn remove <fn-id>')
    .action(async (id: string, flags: ClientFlags) => {
      const r = await withClient(flags, (c) => c.removeFunction(id));
      console.log(`${r.id} removed`);
    });
}

/** The id of function NAME in APP, among those the caller may call (Fn's `fn invoke APP FUNCTION`). */
async function idOf(c: Tessera, app: string, name: string): Promise<string> {
  const { fns } = await c.listFunctions();
  const found = fns.filter((f) => f.app === app && f.name === name).sort((a, b) => b.version - a.version)[0];
  if (!found) throw new TesseraError('not_found', `no function '${name}' in app '${app}' that you may call: tessera fn list shows them`);
  return found.id;
}

/** As a member: upload the package with the member's certificate, then propose its digest (and vote, wait). */
async function propose(bytes: Buffer, flags: ProposeFlags & { app: string; json?: boolean }) {
  const member = memberFromFlags(flags);
  const up = await member.call('PUT', '/v1/fn/packages', bytes, 'application/x-tar');
  const uploaded = JSON.parse(await expectOk(up)) as { digest: string; name: string };
  const proposal = { actions: [{ name: 'set_node_function', args: { name: uploaded.name, kind: 'process', package: uploaded.digest, app: flags.app } }] };
  const status = await submit(member, proposal, flags);
  if (flags.json) return void console.log(JSON.stringify({ proposal: status, function: { app: flags.app, name: uploaded.name, package: uploaded.digest } }, null, 2));
  if (status.proposalState === 'Accepted') console.log(`deployed ${flags.app}/${uploaded.name} for every user: they invoke it with  tessera fn invoke ${flags.app} ${uploaded.name}`);
}
