import type { Command } from 'commander';
import { resolve } from 'node:path';
import { packFunctionDirectory as packDirectory } from '../../sdk/client.js';
import { type ClientFlags, clientOptions, progressBar, withClient } from '../client.js';
import { type OutputFlags, output, outputOptions } from '../output.js';
import { FN_INIT_RUNTIMES, fnInit } from '../fn-init.js';
import { type GovFlags, expectOk, memberFromFlags, printState } from './gov.js';

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
  $ echo '{"name":"Bob"}' | tessera fn invoke <id> --content-type application/json
  $ tessera fn list
  A function's id names its owner, app and package digest: changing the code makes a new id.`,
    );

  fn.command('init [dir]')
    .description("Write the boilerplate Fn's `fn init` writes for a runtime")
    .requiredOption('--runtime <runtime>', `one of ${FN_INIT_RUNTIMES.join(', ')}`)
    .option('--name <name>', 'the function name (default: the directory name)')
    .addHelpText('after', '\nExamples:\n  $ tessera fn init --runtime go hello\n  $ tessera fn init --runtime python --name greet ./greet')
    .action((dir: string | undefined, flags: { runtime: string; name?: string }) => {
      const r = fnInit(resolve(dir ?? '.'), flags.runtime, flags.name);
      console.log('func.yaml created.');
      console.log(`Function boilerplate generated: ${r.files.join(', ')} in ${r.dir}`);
    });

  clientOptions(fn.command('deploy <dir>'))
    .description("Pack a function directory (with Fn's func.yaml), upload it, and deploy it (or, with --propose, propose it)")
    .option('--app <app>', 'the Fn app (trigger paths are /t/<app>/<source>)', 'default')
    .option('--propose', 'as a member: upload the package and propose set_node_function naming its digest')
    .option('--pack-only', 'only pack and print the digest (to check a proposal against a directory)')
    .addHelpText(
      'after',
      `
The directory is packed on this machine into a canonical archive (sorted paths, modes, contents; no
times or owners), so the same directory always has the same digest. The node runs that package only,
never a path on its own disk.

Examples:
  $ tessera fn deploy ./hello --app demo                     # needs fn.allow_direct_deploy
  $ tessera fn deploy ./hello --app demo --propose -i ./tessera-data-identities/m0
  $ tessera fn deploy ./hello --pack-only                    # prints the digest a proposal should name`,
    )
    .action(async (dir: string, flags: ClientFlags & { app: string; propose?: boolean; packOnly?: boolean }) => {
      const { bytes, digest, files } = await packDirectory(resolve(dir));
      process.stderr.write(`packed ${files} files into ${bytes.length} bytes: sha256 ${digest}\n`);
      if (flags.packOnly) return void console.log(digest);
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
      process.stderr.write(`deployed ${r.app}/${r.name} version ${r.version}\n`);
      console.log(r.id);
    });

  clientOptions(fn.command('invoke <id>'))
    .description("Call a function as Fn's /invoke does; the body is read from stdin")
    .option('--content-type <type>', 'the request Content-Type', 'text/plain')
    .option('--display-call-id', 'print the call id first')
    .option('--detached', 'answer at once (202); the call runs on')
    .addHelpText('after', `\nExamples:\n  $ echo '{"name":"Bob"}' | tessera fn invoke 3f1c…9a --content-type application/json\n  $ tessera fn invoke 3f1c…9a --display-call-id < request.json`)
    .action(async (id: string, flags: ClientFlags & { contentType: string; displayCallId?: boolean; detached?: boolean }) => {
      const body = await readStdin();
      const r = await withClient(flags, (c) => c.invokeFunction(id, body, { contentType: flags.contentType, detached: flags.detached }));
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
    .addHelpText('after', '\nExamples:\n  $ tessera fn list\n  $ tessera fn list --json')
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
    .addHelpText('after', '\nExample:\n  $ tessera fn remove 3f1c…9a')
    .action(async (id: string, flags: ClientFlags) => {
      const r = await withClient(flags, (c) => c.removeFunction(id));
      console.log(`${r.id} removed`);
    });
}

/** As a member: upload the package with the member's certificate, then propose its digest. */
async function propose(bytes: Buffer, flags: GovFlags & { app: string }) {
  const member = memberFromFlags(flags);
  const up = await member.call('PUT', '/v1/fn/packages', bytes, 'application/x-tar');
  const uploaded = JSON.parse(await expectOk(up)) as { digest: string; name: string };
  const proposal = { actions: [{ name: 'set_node_function', args: { name: uploaded.name, kind: 'process', package: uploaded.digest, app: flags.app } }] };
  const r = await member.call('POST', '/gov/members/proposals:create', member.sign('proposal', JSON.stringify(proposal)));
  printState(await expectOk(r), r.txId);
}
