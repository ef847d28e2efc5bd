import type { Command } from 'commander';
import { addClusterNode } from '../../node/cluster.js';
import { dataDirOf } from '../target.js';

// `tessera cluster`: nodes that share one service, with their state in PostgreSQL and their files in NATS
// JetStream (docs/cluster.md).

export function registerCluster(program: Command) {
  const cluster = program
    .command('cluster')
    .description('Nodes sharing one service: state in PostgreSQL, files in NATS JetStream (docs/cluster.md)')
    .addHelpText(
      'after',
      `
Example:
  $ tessera cluster add-node --help`,
    );
  cluster
    .command('add-node')
    .description("Make another node's data directory from a cluster node's: the same service, an identity of its own")
    .requiredOption('--from <dir>', "an existing node's data directory (store.backend = postgres, files.blob_store = nats)")
    .option('-d, --data <dir>', 'the new data directory (or $TESSERA_DATA)', dataDirOf())
    .option('--name <name>', "the new node's name as a service principal (default node-<random>)")
    .addHelpText(
      'after',
      `
The new directory gets the service's tessera.toml, CA and master key (so it reaches the same PostgreSQL and
NATS, and reads what the other nodes sealed) and a key and certificate of its own, recorded in the shared
store. Run it on a machine that has the sealing key (kms.sealing_key_file) the master key is sealed with.

Example:
  $ tessera cluster add-node --from ./node1 --data ./node2`,
    )
    .action(async (flags: { from: string; data: string; name?: string }) => {
      const report = await addClusterNode({ from: flags.from, dir: flags.data, name: flags.name });
      console.log(`Created ${report.dir}: node ${report.name} (${report.nodeId.slice(0, 16)}…), sharing the service of ${flags.from}`);
      console.log(`\nNext: tessera serve --data ${flags.data}   (give it its own ports: --port-base)`);
    });
}
