import { type Command, InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import { TesseraError } from '../../errors/index.js';
import { dataDirPaths, DEFAULT_DATA_DIR } from '../../node/datadir.js';
import { initDataDir } from '../../node/init.js';
import { startNode } from '../../node/node.js';

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

interface ServeOptions {
  data: string;
  httpPort?: number;
  logLevel?: Level;
}

async function serve(opts: ServeOptions) {
  if (!existsSync(dataDirPaths(opts.data).config)) {
    throw new TesseraError('not_found', `no data directory at ${opts.data}; create one with 'tessera init --data ${opts.data}'`);
  }
  const node = await startNode({ dataDir: opts.data, httpPort: opts.httpPort, logLevel: opts.logLevel });
  const listing = Object.entries(node.addresses)
    .map(([name, a]) => (name === 'https' ? `https=https://${a.host}:${a.port}` : `${name}=${a.host}:${a.port}`))
    .join(' ');
  console.log(`tessera ready ${listing}`);
  console.error(`measurement ${node.measurement.mr_enclave}; attestation provider ${node.attestation}`);
  if (node.attestationWarning) console.error(`warning: ${node.attestationWarning}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      console.error(`${signal} again: exiting now`);
      process.exit(130);
    }
    stopping = true;
    console.error(`${signal}: finishing in-flight requests, then stopping (send it again to force)`);
    node.close().then(
      () => process.exit(0),
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
  cmd
    .option('-d, --data <dir>', 'data directory', DEFAULT_DATA_DIR)
    .option('--http-port <port>', 'HTTPS port, overriding tessera.toml (0 picks a free one)', parsePort)
    .option('--log-level <level>', `log level: ${LEVELS.join(', ')}`, parseLevel);

export function registerServe(program: Command) {
  serveOptions(
    program
      .command('serve')
      .description('Run the node in the foreground until SIGINT or SIGTERM')
      .addHelpText(
        'after',
        `
Prints one line starting "tessera ready" with every bound address once all listeners are up.
Logs are JSON lines on stdout.

Examples:
  $ tessera serve
  $ tessera serve --data ./node1 --http-port 8443 --log-level debug`,
      ),
  ).action(serve);

  serveOptions(
    program
      .command('start')
      .description('Initialise a demo data directory (users alice and bob, member m0) if there is none, then serve')
      .addHelpText('after', '\nThis is what `npm start` runs.\n\nExample:\n  $ tessera start --data ./tessera-data'),
  ).action(async (opts: ServeOptions) => {
    if (!existsSync(dataDirPaths(opts.data).config)) {
      const report = await initDataDir({ dir: opts.data, users: ['alice', 'bob'], members: ['m0'] });
      console.log(`Created ${report.dir} with users alice and bob (certificates and tokens under ${report.dir}-identities) and member m0`);
    }
    await serve(opts);
  });
}
