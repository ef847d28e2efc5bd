import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { TesseraError } from '../../errors/index.js';
import { checkContextName, type Context, contextsPath, readContexts, writeContexts } from '../contexts.js';
import { type OutputFlags, output, outputOptions } from '../output.js';

// `tessera context`: named nodes, as `fn use context` has them. A context remembers a node's URL, its CA,
// the identity to use and what to trust (enclave_info and auditors, or --insecure-skip-verification);
// commands use the current one for every setting no flag or environment variable gives (docs/cli.md).

interface AddFlags {
  url: string;
  ca?: string;
  identity?: string;
  enclaveInfo?: string;
  auditor: string[];
  insecureSkipVerification?: boolean;
  use?: boolean;
  force?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** A path stored absolute, checked to exist now rather than at the first command that needs it. */
function pathOf(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const abs = resolve(value);
  if (!existsSync(abs)) throw new TesseraError('not_found', `${flag} ${value}: ${abs} does not exist`);
  return abs;
}

function auditorPath(pair: string): string {
  const [key, sig] = pair.split(':');
  if (!key || !sig) throw new TesseraError('invalid_input', `--auditor takes PUBLIC_KEY:SIGNATURE, not '${pair}'`);
  return `${pathOf('--auditor', key)}:${pathOf('--auditor', sig)}`;
}

const rows = (contexts: Record<string, Context>, current?: string) =>
  Object.entries(contexts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, c]) => ({
      current: name === current,
      name,
      url: c.url ?? '',
      identity: c.identity ?? '',
      trust: c.insecureSkipVerification ? 'insecure' : c.enclaveInfo ? `${c.auditors?.length ?? 0} auditor${c.auditors?.length === 1 ? '' : 's'}` : 'none set',
    }));

export function registerContext(program: Command) {
  const context = program
    .command('context')
    .description('Named nodes to talk to (URL, CA, identity, attestation checks): add, use, list, show, remove')
    .addHelpText(
      'after',
      `
A context fills every setting no flag and no TESSERA_* variable gives. Contexts are kept in
$TESSERA_CONFIG_DIR/contexts.json (default ~/.config/tessera/contexts.json), 0600.

Examples:
  $ tessera context add local --url https://127.0.0.1:8000 --ca ./tessera-data/ca.pem \\
      --identity ./tessera-data-identities/alice --insecure-skip-verification
  $ tessera context use local
  $ tessera file list                     # talks to the context's node as alice
  $ tessera context list`,
    );

  context
    .command('add <name>')
    .description('Remember a node and how to talk to it (paths are stored absolute)')
    .requiredOption('--url <url>', 'the node, https://HOST:PORT')
    .option('--ca <file>', "the node's CA certificate (its ca.pem)")
    .option('-i, --identity <dir>', 'the identity folder to use (cert.pem, key.pem, token)')
    .option('--enclave-info <file>', 'the auditors’ signed enclave_info.toml')
    .option('--auditor <key:sig>', 'an auditor public key and signature file; repeat per auditor', collect, [])
    .option('--insecure-skip-verification', 'talk to this node without checking attestation (proves nothing)')
    .option('--use', 'also make it the current context')
    .option('--force', 'replace a context of the same name')
    .addHelpText('after', '\nExample:\n  $ tessera context add prod --url https://tessera.example.com:8000 --ca ./tessera-data/ca.pem \\\n      -i ./tessera-data-identities/alice --enclave-info enclave_info.toml --auditor godzilla.pub.pem:godzilla.sign.sha256 --use')
    .action((name: string, flags: AddFlags) => {
      checkContextName(name);
      let url: URL;
      try {
        url = new URL(flags.url);
      } catch {
        throw new TesseraError('invalid_input', `--url ${flags.url} is not a URL: give https://HOST:PORT`);
      }
      if (url.protocol !== 'https:') throw new TesseraError('invalid_input', `--url must be https, not ${url.protocol}`);
      const file = readContexts();
      if (file.contexts[name] && !flags.force) throw new TesseraError('conflict', `a context '${name}' exists already; pass --force to replace it, or \`tessera context remove ${name}\``);
      const ctx: Context = {
        url: flags.url.replace(/\/+$/, ''),
        ca: pathOf('--ca', flags.ca),
        identity: pathOf('--identity', flags.identity),
        enclaveInfo: pathOf('--enclave-info', flags.enclaveInfo),
        auditors: flags.auditor.length ? flags.auditor.map(auditorPath) : undefined,
        insecureSkipVerification: flags.insecureSkipVerification || undefined,
      };
      file.contexts[name] = JSON.parse(JSON.stringify(ctx)) as Context; // drops the unset ones
      if (flags.use || !file.current) file.current = name;
      writeContexts(file);
      console.log(`context ${name} added${file.current === name ? ' (current)' : ''}`);
    });

  context
    .command('use <name>')
    .description('Make NAME the current context')
    .addHelpText('after', '\nExample:\n  $ tessera context use prod')
    .action((name: string) => {
      const file = readContexts();
      if (!file.contexts[name]) throw new TesseraError('not_found', `no context '${name}'; see \`tessera context list\``);
      file.current = name;
      writeContexts(file);
      console.log(`now using context ${name} (${file.contexts[name].url})`);
    });

  outputOptions(context.command('list'))
    .alias('ls')
    .description('List the contexts; the current one is marked *')
    .addHelpText('after', '\nExamples:\n  $ tessera context list\n  $ tessera context list --json')
    .action((flags: OutputFlags) => {
      const file = readContexts();
      const list = rows(file.contexts, file.current);
      output(flags).table(list, [
        { key: 'current', header: 'CURRENT', format: (v) => (v ? '*' : '-') },
        { key: 'name', header: 'NAME' },
        { key: 'url', header: 'URL' },
        { key: 'identity', header: 'IDENTITY' },
        { key: 'trust', header: 'TRUST' },
      ], { idKey: 'name', empty: `no contexts yet (in ${contextsPath()}); add one with \`tessera context add NAME --url …\`` });
    });

  outputOptions(context.command('show [name]'))
    .description('Show a context (default: the current one)')
    .addHelpText('after', '\nExamples:\n  $ tessera context show\n  $ tessera context show prod --json')
    .action((name: string | undefined, flags: OutputFlags) => {
      const file = readContexts();
      const chosen = name ?? file.current;
      if (!chosen) throw new TesseraError('not_found', 'no current context: `tessera context use NAME`, or name one');
      const c = file.contexts[chosen];
      if (!c) throw new TesseraError('not_found', `no context '${chosen}'; see \`tessera context list\``);
      output(flags).record({ name: chosen, current: chosen === file.current, ...c }, [
        ['name', `${chosen}${chosen === file.current ? ' (current)' : ''}`],
        ['url', c.url],
        ['ca', c.ca],
        ['identity', c.identity],
        ['enclave-info', c.enclaveInfo],
        ['auditors', c.auditors?.join(', ')],
        ['verification', c.insecureSkipVerification ? 'skipped (--insecure-skip-verification)' : c.enclaveInfo ? 'enclave_info and auditors' : 'none set: give --enclave-info and --auditor, or --insecure-skip-verification'],
      ], { id: chosen });
    });

  context
    .command('remove <name>')
    .alias('rm')
    .description('Forget a context (its files stay where they are)')
    .addHelpText('after', '\nExample:\n  $ tessera context remove prod')
    .action((name: string) => {
      const file = readContexts();
      if (!file.contexts[name]) throw new TesseraError('not_found', `no context '${name}'; see \`tessera context list\``);
      delete file.contexts[name];
      if (file.current === name) file.current = undefined;
      writeContexts(file);
      console.log(`context ${name} removed${file.current ? '' : '; no context is current now'}`);
    });
}
