import { type Command, InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import { TesseraError } from '../../errors/index.js';
import { resolve } from 'node:path';
import { loadConfig } from '../../node/config.js';
import { dataDirPaths } from '../../node/datadir.js';
import { removeNodeFile, writeNodeFile } from '../../node/node-file.js';
import { VERSION } from '../../node/version.js';
import { dataDirOf } from '../target.js';
import { listenFailure, type PortFlags, portOptions, portsFromFlags, PORTS_HELP } from '../ports.js';
import { initDataDir } from '../../node/init.js';
import { startNode } from '../../node/node.js';
import { NODE_ROLES } from '../../node/options.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type Level = (typeof LEVELS)[number];

const parsePort = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535');
  return n;
};
const parseLevel = (value: string): Level => {
  if (!(LEVELS as readonly string[]).includes(value)) throw new InvalidArgumentError(`one of ${LEVELS.join(', ')}`);
  return value as Level;
};

interface ServeOptions extends PortFlags {
  data: string;
  logLevel?: Level;
  role?: NodeRole;
}

type NodeRole = (typeof NODE_ROLES)[number];
const parseRole = (value: string): NodeRole => {
  if (!(NODE_ROLES as readonly string[]).includes(value)) throw new InvalidArgumentError(`one of ${NODE_ROLES.join(', ')}`);
  return value as NodeRole;
};

async function serve(opts: ServeOptions) {
  const paths = dataDirPaths(opts.data);
  if (!existsSync(paths.config)) {
    throw new TesseraError('not_found', `no data directory at ${opts.data}; create one with 'tessera init --data ${opts.data}'`);
  }
  const ports = portsFromFlags(opts);
  let node;
  try {
    node = await startNode({ dataDir: opts.data, ports, logLevel: opts.logLevel, role: opts.role });
  } catch (err) {
    throw listenFailure(err, loadConfig(paths.config), opts) ?? err;
  }
  // DATA/node.json: how `tessera` commands on this machine find this node without --url.
  writeNodeFile(opts.data, { ca: resolve(paths.caCert), pid: process.pid, version: VERSION, listeners: node.addresses });
  const listing = Object.entries(node.addresses)
    .map(([name, a]) => (name === 'https' ? `https=https://${a.host}:${a.port}` : `${name}=${a.host}:${a.port}`))
    .join(' ');
  console.log(`tessera ready ${listing}`);
  console.error(`measurement ${node.measurement.mr_enclave}; attestation provider ${node.attestation}`);
  if (node.attestationWarning) console.error(`warning: ${node.attestationWarning}`);
  if (node.addresses.https) {
    const { host, port } = node.addresses.https;
    console.error(`web console https://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}/console/ (docs/console.md)`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      console.error(`${signal} again: exiting now`);
      process.exit(130);
    }
    stopping = true;
    console.error(`${signal}: finishing in-flight requests, then stopping (send it again to force)`);
    node.close().then(
      () => {
        removeNodeFile(opts.data);
        process.exit(0);
      },
      (err) => {
        console.error(`error while stopping: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

const serveOptions = (cmd: Command) =>
  portOptions(cmd.option('-d, --data <dir>', 'data directory (or $TESSERA_DATA)', dataDirOf()), parsePort)
    .option('--log-level <level>', `log level: ${LEVELS.join(', ')}`, parseLevel)
    .option('--role <role>', `in a cluster: ${NODE_ROLES.join(', ')} (node.role; docs/cluster.md)`, parseRole);

export function registerServe(program: Command) {
  serveOptions(
    program
      .command('serve')
      .description('Run the node in the foreground until SIGINT or SIGTERM')
      .addHelpText(
        'after',
        `
Prints one line starting "tessera ready" with every bound address once all listeners are up, and
writes them to DATA/node.json (removed when the node stops), where other \`tessera\` commands on
this machine find the node without --url. Logs are JSON lines on stdout.

${PORTS_HELP}

A port that is taken ends serve with one line naming the listener and its setting, and exit code 5.

Examples:
  $ tessera serve
  $ tessera serve --data ./node2 --port-base 9000
  $ tessera serve --data ./node1 --https-port 8443 --fns-port 0 --log-level debug
  $ tessera serve --data ./node3 --role worker          # a cluster node that only runs tasks and calls`,
      ),
  ).action(serve);

  serveOptions(
    program
      .command('start')
      .description('Initialise a demo data directory (users alice and bob, member m0) if there is none, then serve')
      .addHelpText('after', '\nThis is what `npm start` runs.\n\nExamples:\n  $ tessera start --data ./tessera-data\n  $ tessera start --port-base 9000'),
  ).action(async (opts: ServeOptions) => {
    if (!existsSync(dataDirPaths(opts.data).config)) {
      const report = await initDataDir({ dir: opts.data, users: ['alice', 'bob'], members: ['m0'] });
      console.log(`Created ${report.dir} with users alice and bob (certificates and tokens under ${report.dir}-identities) and member m0`);
    }
    await serve(opts);
  });
}
