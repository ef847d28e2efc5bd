import type { Command } from 'commander';
import { dataDirOf } from '../target.js';
import { type OutputFlags, output, outputOptions } from '../output.js';
import { TesseraError } from '../../errors/index.js';
import { addIdentity, listIdentities, removeIdentity } from '../../node/users.js';

/** Why `user add --member` is refused, and the commands that add a member instead. */
const memberRefusal = (name: string) =>
  `members join only through governance (set_member), as in CCF: ${name} runs  tessera gov keygen ${name}  and sends ${name}/cert.pem to an active member, who runs  tessera gov propose-member ${name} --cert ${name}/cert.pem -i <member folder>;  once the members accept, ${name} runs  tessera gov ack -i ${name}`;

export function registerUser(program: Command) {
  const user = program
    .command('user')
    .description('Manage users (and members) of a data directory; works while the node runs')
    .addHelpText(
      'after',
      `
Examples:
  $ tessera user add carol
  $ tessera user list --json
  $ tessera user remove carol`,
    );

  user
    .command('add <name>')
    .description('Issue a certificate and, for a user, a bearer token into DATA-identities/NAME (beside the data directory: hand the folder to its owner)')
    .option('-d, --data <dir>', 'data directory (or $TESSERA_DATA)', dataDirOf())
    .option('--member', 'refused: members join through governance (see below)')
    .addHelpText(
      'after',
      `
Members are made by tessera init (--members); after that they join only through governance, as in CCF:
the new member runs tessera gov keygen NAME, an active member proposes it with
tessera gov propose-member NAME --cert NAME/cert.pem, and once accepted the new member runs tessera gov ack.

Example:
  $ tessera user add carol`,
    )
    .action(async (name: string, opts: { data: string; member?: boolean }) => {
      if (opts.member) throw new TesseraError('permission_denied', memberRefusal(name));
      const id = await addIdentity(opts.data, name, 'user');
      console.log(`Added ${id.role} ${id.name}`);
      console.log(`  certificate  ${id.certPath}  (id ${id.certId})`);
      console.log(`  private key  ${id.keyPath}`);
      if (id.tokenPath) console.log(`  token        ${id.tokenPath}  (shown nowhere else; the node keeps only its hash)`);
    });

  outputOptions(user.command('list'))
    .description('List users, members and services')
    .option('-d, --data <dir>', 'data directory (or $TESSERA_DATA)', dataDirOf())
    .addHelpText('after', '\nExamples:\n  $ tessera user list --data ./tessera-data\n  $ tessera user list --quiet        # names only')
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
    .addHelpText('after', '\nExample:\n  $ tessera user remove carol --data ./tessera-data')
    .option('-d, --data <dir>', 'data directory (or $TESSERA_DATA)', dataDirOf())
    .action(async (name: string, opts: { data: string }) => {
      const removed = await removeIdentity(opts.data, name);
      console.log(`Removed ${removed.role} ${removed.name}`);
    });
}
