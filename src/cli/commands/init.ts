import type { Command } from 'commander';
import { dataDirOf } from '../target.js';
import { initDataDir } from '../../node/init.js';
import { splitList } from '../shared.js';
import { parseAssignment } from '../../node/config-edit.js';

export function registerInit(program: Command) {
  program
    .command('init')
    .description('Create a data directory: configuration, certificate authority, node identity, store, users and members')
    .option('-d, --data <dir>', 'data directory to create (or $TESSERA_DATA)', dataDirOf())
    .option('--users <names>', 'comma-separated users to create, each with a certificate and a token', '')
    .option('--members <names>', 'comma-separated governance members to create, each with a certificate', '')
    .option('--set <setting=value>', 'write a setting into the new tessera.toml, e.g. store.backend=postgres (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .addHelpText(
      'after',
      `
Examples:
  $ tessera init
  $ tessera init --data ./node1 --users alice,bob --members m0,m1,m2
  $ tessera init --data ./node1 --users alice --set http.port=8100 --set ledger.signature_interval_ms=500

A cluster's first node keeps its state in PostgreSQL and its files in NATS (docs/cluster.md):
  --set store.backend=postgres --set store.url=postgres://tessera@db:5432/tessera
  --set files.blob_store=nats --set nats.url=tls://nats:4222

Init refuses to touch a directory that is not empty.`,
    )
    .action(async (opts: { data: string; users: string; members: string; set: string[] }) => {
      const report = await initDataDir({
        dir: opts.data,
        settings: opts.set.map(parseAssignment),
        users: splitList(opts.users),
        members: splitList(opts.members),
        onStep: (message) => process.stderr.write(`  ${message}\n`),
      });
      console.log(`Created ${report.dir}`);
      console.log(`  configuration   ${report.config}`);
      console.log(`  node CA         ${report.caCert}  (its key beside it, sealed)`);
      console.log(`  node identity   ${report.nodeCert}`);
      console.log(`  sealing key     ${report.sealingKey}  (outside the data directory: back it up separately)`);
      for (const id of report.identities) {
        console.log(`  ${id.role.padEnd(6)} ${id.name.padEnd(8)} ${id.certPath}${id.tokenPath ? `, token in ${id.tokenPath}` : ''}`);
      }
      if (report.identities.length) console.log(`  (credentials are kept outside the data directory: hand each folder of ${report.dir}-identities to its owner)`);
      console.log(`\nNext: tessera serve --data ${opts.data}`);
    });
}
