import type { Command } from 'commander';
import { dataDirOf } from '../target.js';
import { type OutputFlags, output, outputOptions } from '../output.js';
import { addIdentity, listIdentities, removeIdentity } from '../../node/users.js';

export function registerUser(program: Command) {
  const user = program
    .command('user')
    .description('Manage users (and members) of a data directory; works while the node runs')
    .addHelpText(
      'after',
      `
Examples:
  $ tessera user add carol
  $ tessera user add m1 --member
  $ tessera user list --json
  $ tessera user remove carol`,
    );

  user
    .command('add <name>')
    .description('Issue a certificate and, for a user, a bearer token into DATA-identities/NAME (beside the data directory: hand the folder to its owner)')
    .option('-d, --data <dir>', 'data directory (or $TESSERA_DATA)', dataDirOf())
    .option('--member', 'create a governance member (certificate only, no token)')
    .addHelpText('after', '\nExamples:\n  $ tessera user add carol\n  $ TESSERA_DATA=./node1 tessera user add m3 --member')
    .action(async (name: string, opts: { data: string; member?: boolean }) => {
      const id = await addIdentity(opts.data, name, opts.member ? 'member' : 'user');
      console.log(`Added ${id.role} ${id.name}`);
      console.log(`  certificate  ${id.certPath}  (id ${id.certId})`);
      console.log(`  private key  ${id.keyPath}`);
      if (id.tokenPath) console.log(`  token        ${id.tokenPath}  (shown nowhere else; the node keeps only its hash)`);
    });

  outputOptions(user.command('list'))
    .description('List users, members and services')
    .option('-d, --data <dir>', 'data directory (or $TESSERA_DATA)', dataDirOf())
    .addHelpText('after', '\nExamples:\n  $ tessera user list --data ./node1\n  $ tessera user list --quiet        # names only')
    .action(async (opts: { data: string } & OutputFlags) => {
      const list = await listIdentities(opts.data);
      const out = output(opts);
      if (out.json || out.quiet) return out.table(list, [], { idKey: 'name' });
      // This list has always had its header, in a pipe too (scripts skip one line or use --json).
      console.log(`${'NAME'.padEnd(16)} ${'ROLE'.padEnd(8)} ${'CREATED'.padEnd(24)} CERTIFICATE ID`);
      for (const p of list) console.log(`${p.name.padEnd(16)} ${p.role.padEnd(8)} ${p.createdAt.padEnd(24)} ${p.certId}`);
    });

  user
    .command('remove <name>')
    .description('Remove a user or member: refused on every listener from the next request on')
    .addHelpText('after', '\nExample:\n  $ tessera user remove carol --data ./node1')
    .option('-d, --data <dir>', 'data directory (or $TESSERA_DATA)', dataDirOf())
    .action(async (name: string, opts: { data: string }) => {
      const removed = await removeIdentity(opts.data, name);
      console.log(`Removed ${removed.role} ${removed.name}`);
    });
}
