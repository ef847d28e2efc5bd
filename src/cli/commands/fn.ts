import type { Command } from 'commander';
import { resolve } from 'node:path';
import { type ClientFlags, clientOptions, withClient } from '../client.js';

export function registerFn(program: Command) {
  const fn = program
    .command('fn')
    .description('Functions in any language as hot processes (Fn http-stream): deploy a func.yaml directory, list')
    .addHelpText(
      'after',
      `
Examples:
  $ tessera fn deploy ./hello --app demo     # prints the function id (needs fn.allow_direct_deploy)
  $ tessera fn list
  Invoke: POST https://<node>/invoke/<id>, or a trigger at https://<node>/t/<app>/<source>.
  Without fn.allow_direct_deploy, a member proposes set_node_function {name, kind: "process", dir, app}.`,
    );
  clientOptions(fn.command('deploy <dir>'))
    .description("Register a function directory with Fn's func.yaml; prints its id")
    .option('--app <app>', 'the Fn app (trigger paths are /t/<app>/<source>)', 'default')
    .addHelpText('after', '\nExample:\n  $ tessera fn deploy ./hello --app demo')
    .action(async (dir: string, flags: ClientFlags & { app: string }) => {
      const r = await withClient(flags, (c) => c.deployFunction(resolve(dir), flags.app));
      console.log(r.id);
    });
  clientOptions(fn.command('list'))
    .description('List process functions')
    .addHelpText('after', '\nExample:\n  $ tessera fn list')
    .action(async (flags: ClientFlags) => {
      for (const f of await withClient(flags, (c) => c.listFunctions())) console.log(`${f.id}  ${f.app}  ${f.name}  ${(f.triggers ?? []).map((t: { source: string }) => `/t/${f.app}${t.source}`).join(' ')}`);
    });
}
