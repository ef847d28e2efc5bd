import { type Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { readFileSync } from 'node:fs';
import { Tessera } from '../sdk/client.js';
import { loadIdentity } from '../sdk/identity.js';
import { TesseraError } from '../errors/index.js';
import { splitAuditorPair } from './commands/audit.js';

// What every command that talks to a node shares: who you are, which node, and what you trust.

export interface ClientFlags {
  identity?: string;
  url: string;
  ca?: string;
  enclaveInfo?: string;
  auditor: string[];
  insecureSkipVerification?: boolean;
  maxEvidenceAge?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function clientOptions(cmd: Command): Command {
  return cmd
    .option('-i, --identity <dir>', 'identity folder with cert.pem, key.pem and token (or $TESSERA_IDENTITY)')
    .option('--url <url>', 'the node (or $TESSERA_URL)', process.env.TESSERA_URL ?? 'https://127.0.0.1:8000')
    .option('--ca <file>', "the node CA certificate (or $TESSERA_CA; default: ca.pem beside or above the identity folder)")
    .option('--enclave-info <file>', 'the auditors’ signed enclave_info.toml (or $TESSERA_ENCLAVE_INFO)')
    .option('--auditor <key:sig>', 'an auditor public key and signature file; repeat per auditor (or $TESSERA_AUDITORS, comma-separated)', collect, [])
    .option('--max-evidence-age <seconds>', 'oldest node evidence to accept', '86400')
    .option('--insecure-skip-verification', 'connect without checking auditors or attestation (proves nothing)');
}

export async function connectFromFlags(flags: ClientFlags): Promise<Tessera> {
  const dir = flags.identity ?? process.env.TESSERA_IDENTITY;
  if (!dir) throw new TesseraError('invalid_input', 'who are you? pass --identity DIR (a folder with cert.pem, key.pem and token) or set TESSERA_IDENTITY');
  const id = loadIdentity(dir);
  const caPath = flags.ca ?? process.env.TESSERA_CA;
  const ca = caPath ? readFileSync(caPath, 'utf8') : id.ca;
  if (!ca) throw new TesseraError('invalid_input', 'no node CA: pass --ca FILE (the ca.pem of the node) or set TESSERA_CA');
  const auditorPairs = flags.auditor.length ? flags.auditor : (process.env.TESSERA_AUDITORS ?? '').split(',').filter(Boolean);
  const auditors = auditorPairs.map((pair) => {
    const { keyPath, signaturePath } = splitAuditorPair(pair);
    return { name: keyPath.split('/').pop(), publicKey: keyPath, signatureFile: signaturePath };
  });
  return Tessera.connect({
    url: flags.url,
    ca,
    cert: id.cert,
    key: id.key,
    userId: id.userId,
    token: id.token,
    enclaveInfo: flags.enclaveInfo ?? process.env.TESSERA_ENCLAVE_INFO,
    auditors,
    maxEvidenceAgeMs: Number(flags.maxEvidenceAge ?? 86400) * 1000,
    insecureSkipVerification: flags.insecureSkipVerification,
    warn: (m) => process.stderr.write(`${m}\n`),
  });
}

/** A progress bar on a terminal; nothing in a pipe. */
export function progressBar(label: string): { update: (done: number, total: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total} bytes | {eta_formatted} left`, stream: process.stderr }, Presets.shades_classic);
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Runs `fn` with a connected client and closes it after. */
export async function withClient<T>(flags: ClientFlags, fn: (client: Tessera) => Promise<T>): Promise<T> {
  const client = await connectFromFlags(flags);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
