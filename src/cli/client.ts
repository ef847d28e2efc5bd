import { type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { Tessera } from '../sdk/client.js';
import { loadCollateralDir } from '../sdk/index.js';
import { loadIdentity } from '../sdk/identity.js';
import { TesseraError } from '../errors/index.js';
import { splitAuditorPair } from './commands/audit.js';
import { EXIT, withExitCode } from './failure.js';
import { type ConnectionFlags, resolveTarget } from './target.js';

// What every command that talks to a node shares: who you are, which node, and what you trust.

export interface ClientFlags extends ConnectionFlags {
  auditor: string[];
  maxEvidenceAge?: string;
  collateral?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Where a command finds its node, said once for every --help (docs/cli.md has the whole story). */
export const CONNECTION_HELP = `
Which node: --url, else $TESSERA_URL, else the current context (tessera context use), else the node
running on --data / $TESSERA_DATA / ./tessera-data (its node.json), else https://127.0.0.1:8000.`;

/** --url, --ca, --data: how any command finds a node and checks its TLS certificate. */
export function nodeOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'the node (or $TESSERA_URL; default: current context, then the running node of --data, then https://127.0.0.1:8000)')
    .option('--ca <file>', "the node CA certificate (or $TESSERA_CA; default: the context's, the local node's, or ca.pem beside the identity folder)")
    .option('--data <dir>', 'find the node running on this data directory through its node.json (or $TESSERA_DATA; default ./tessera-data)');
}

export function clientOptions(cmd: Command): Command {
  return nodeOptions(cmd.option('-i, --identity <dir>', 'identity folder with cert.pem, key.pem and token (or $TESSERA_IDENTITY)'))
    .option('--enclave-info <file>', 'the auditors’ signed enclave_info.toml (or $TESSERA_ENCLAVE_INFO)')
    .option('--auditor <key:sig>', 'an auditor public key and signature file; repeat per auditor (or $TESSERA_AUDITORS, comma-separated)', collect, [])
    .option('--max-evidence-age <seconds>', 'oldest node evidence to accept', '86400')
    .option('--collateral <dir>', 'AMD/Intel CRLs and Intel TCB Info to check the node against (or $TESSERA_COLLATERAL; docs/trust-model.md)')
    .option('--insecure-skip-verification', 'connect without checking auditors or attestation (proves nothing; or TESSERA_INSECURE=1)')
    .addHelpText('after', CONNECTION_HELP);
}

export async function connectFromFlags(flags: ClientFlags): Promise<Tessera> {
  const collateralDir = flags.collateral ?? process.env.TESSERA_COLLATERAL;
  const trust = collateralDir ? { collateral: loadCollateralDir(collateralDir) } : undefined;
  const target = resolveTarget(flags);
  const dir = target.identity;
  if (!dir) throw new TesseraError('invalid_input', 'who are you? pass --identity DIR (a folder with cert.pem, key.pem and token), set TESSERA_IDENTITY, or use a context that names one');
  const id = loadIdentity(dir);
  const ca = target.ca ? readFileSync(target.ca, 'utf8') : id.ca;
  if (!ca) throw new TesseraError('invalid_input', 'no node CA: pass --ca FILE (the ca.pem of the node) or set TESSERA_CA');
  const auditors = target.auditors.map((pair) => {
    const { keyPath, signaturePath } = splitAuditorPair(pair);
    return { name: keyPath.split('/').pop(), publicKey: keyPath, signatureFile: signaturePath };
  });
  if (!target.insecureSkipVerification && (!target.enclaveInfo || !target.auditors.length)) {
    // The SDK says this in its own option names; a CLI user needs the flags and variables.
    throw new TesseraError('invalid_input', 'verification needs the auditors’ signed enclave_info.toml and at least one auditor: pass --enclave-info FILE and --auditor KEY:SIG (or TESSERA_ENCLAVE_INFO and TESSERA_AUDITORS, or a context); to connect without any check, pass --insecure-skip-verification (or TESSERA_INSECURE=1), which proves nothing about the node');
  }
  const maxAge = Number(flags.maxEvidenceAge ?? 86400);
  if (!Number.isFinite(maxAge) || maxAge <= 0) throw new TesseraError('invalid_input', `--max-evidence-age takes a number of seconds, not '${flags.maxEvidenceAge}'`);
  try {
    return await Tessera.connect({
      url: target.url,
      ca,
      cert: id.cert,
      key: id.key,
      userId: id.userId,
      token: id.token,
      enclaveInfo: target.enclaveInfo,
      auditors,
      maxEvidenceAgeMs: maxAge * 1000,
      ...(trust ? { trust } : {}),
      insecureSkipVerification: target.insecureSkipVerification,
      warn: (m) => process.stderr.write(`${m}\n`),
    });
  } catch (err) {
    // Refusing the node's certificate or evidence is a verification failure (exit 4), not a bad command.
    if (err instanceof TesseraError && err.code === 'permission_denied') throw withExitCode(err, EXIT.verification);
    throw err;
  }
}

/** Kept here for the commands that import it from the client module; it lives in output.ts. */
export { progressBar } from './output.js';

/** Runs `fn` with a connected client and closes it after. */
export async function withClient<T>(flags: ClientFlags, fn: (client: Tessera) => Promise<T>): Promise<T> {
  const client = await connectFromFlags(flags);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
