import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { addClusterNode } from '../../node/cluster.js';
import { startDevCluster } from '../../node/cluster-dev.js';
import { TesseraError } from '../../errors/index.js';
import { splitList } from '../shared.js';
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
NATS, and reads what the other nodes sealed) and a key and certificate of its own, recorded Pending in the
shared store's nodes table. It serves only once members trust it with transition_node_to_trusted. Run it on a machine that has the sealing key (kms.sealing_key_file) the master key is sealed with.

Example:
  $ tessera cluster add-node --from ./node1 --data ./node2`,
    )
    .action(async (flags: { from: string; data: string; name?: string }) => {
      // (add-node)
      const report = await addClusterNode({ from: flags.from, dir: flags.data, name: flags.name });
      console.log(`Created ${report.dir}: node ${report.name}, sharing the service of ${flags.from}. It is Pending: it serves once members trust it.`);
      console.log(`node_id ${report.nodeId}`);
      console.log(`\nNext: tessera serve --data ${flags.data}   (give it its own ports: --port-base; it records its attestation and waits)`);
      console.log(`Then members propose transition_node_to_trusted {"node_id": "${report.nodeId}", "valid_from": "<now>"} and vote (docs/cluster.md).`);
    });

  cluster
    .command('dev')
    .description('Start a cluster to try on this machine: PostgreSQL, nats-server and N nodes, all in a temporary directory')
    .option('--nodes <n>', 'how many nodes', '3')
    .option('--users <names>', 'users to create, with certificates and tokens', 'alice,bob')
    .option('--members <names>', 'governance members to create', 'm0,m1,m2')
    .option('--port-base <port>', 'node1 listens from this port, node2 from +100, and so on', '8000')
    .option('--check', 'start everything, check that every node answers, stop, and exit (0 when all answered)')
    .addHelpText(
      'after',
      `
Needs Debian's postgresql and nats-server (apt-get install postgresql nats-server). Runs in the foreground:
Ctrl-C stops the nodes, NATS and PostgreSQL, and deletes the temporary directory with everything in it.
The users' and members' identity folders are printed; point the CLI at any node with --url and --ca.

Examples:
  $ tessera cluster dev --nodes 2 --port-base 0 --check   # starts it all, checks every node answers, stops
  $ tessera cluster dev --nodes 3`,
    )
    .action(async (flags: { nodes: string; users: string; members: string; portBase: string; check?: boolean }) => {
      const n = Number(flags.nodes);
      if (!Number.isInteger(n) || n < 1 || n > 9) throw new TesseraError('invalid_input', `--nodes takes 1 to 9, not '${flags.nodes}'`);
      const portBase = Number(flags.portBase);
      if (!Number.isInteger(portBase) || portBase < 0 || portBase > 65000) throw new TesseraError('invalid_input', `--port-base takes a port (0 picks free ones), not '${flags.portBase}'`);
      const cluster = await startDevCluster({ nodes: n, users: splitList(flags.users), members: splitList(flags.members), portBase, cli: process.argv[1], onStep: (m) => process.stderr.write(`  ${m}\n`) });
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        process.stderr.write('stopping the nodes, NATS and PostgreSQL, and deleting the directory\n');
        await cluster.stop();
      };
      try {
        const ca = readFileSync(join(cluster.nodes[0].dataDir, 'ca.pem'), 'utf8');
        const states = await Promise.all(cluster.nodes.map((node) => nodeState(node.https, ca)));
        console.log(`cluster of ${n} in ${cluster.dir}`);
        console.log(`  PostgreSQL  ${cluster.postgresUrl}`);
        console.log(`  NATS        ${cluster.natsUrl}`);
        cluster.nodes.forEach((node, i) => console.log(`  ${node.name.padEnd(10)}  ${node.https}  ${states[i]}  (data ${node.dataDir})`));
        console.log(`  identities  ${cluster.identities}  (CA: ${join(cluster.nodes[0].dataDir, 'ca.pem')})`);
        if (flags.check) {
          const bad = states.filter((s) => s !== 'PartOfNetwork').length;
          if (bad) throw new TesseraError('unavailable', `${bad} of ${n} nodes did not answer as PartOfNetwork`);
          console.log('every node answered');
          return;
        }
        console.log('Ctrl-C stops it all');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
      } finally {
        await stop();
      }
    });
}

/** A node's CCF state (GET /node/state), waiting for its workflows to come back; the error's words if none. */
async function nodeState(base: string, ca: string): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const got = await new Promise<{ status: number; body: string }>((resolve) => {
      const req = request(`${base}/node/state`, { ca }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', (err) => resolve({ status: 0, body: err.message }));
      req.end();
    });
    if (got.status === 200) return (JSON.parse(got.body) as { state: string }).state;
    await new Promise((r) => setTimeout(r, 200));
  }
  return 'not answering';
}
