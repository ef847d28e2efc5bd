import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { TesseraError } from '../errors/index.js';
import { DEFAULT_DATA_DIR } from '../node/datadir.js';
import { nodeFilePath, readNodeFile } from '../node/node-file.js';
import { caPathFor } from '../sdk/identity.js';
import { type Context, currentContext } from './contexts.js';
import { EXIT, setTarget, withExitCode } from './failure.js';

// Which node a command talks to, and with what. Each setting is taken from the first of:
//   1. the command-line flag (--url, --ca, --identity, --enclave-info, --auditor, --insecure-skip-verification)
//   2. its environment variable (TESSERA_URL, TESSERA_CA, TESSERA_IDENTITY, TESSERA_ENCLAVE_INFO,
//      TESSERA_AUDITORS, TESSERA_INSECURE)
//   3. the current context (`tessera context use NAME`, or TESSERA_CONTEXT for one command)
//   4. the local node: DATA/node.json of --data / TESSERA_DATA / ./tessera-data, for the URL and CA
//      together, and only when 1–3 name no URL (so a remote URL never meets the local node's CA)
//   5. defaults: https://127.0.0.1:8000, and the ca.pem beside the identity folder.
// docs/cli.md documents this order; test/cli/precedence.test.ts keeps it.

export const DEFAULT_URL = 'https://127.0.0.1:8000';

export interface ConnectionFlags {
  identity?: string;
  url?: string;
  ca?: string;
  data?: string;
  enclaveInfo?: string;
  auditor?: string[];
  insecureSkipVerification?: boolean;
}

export interface Target {
  url: string;
  /** Where the URL came from: flag, env, context NAME, node.json PATH, default. */
  urlFrom: string;
  ca?: string;
  identity?: string;
  enclaveInfo?: string;
  auditors: string[];
  insecureSkipVerification: boolean;
}

/** The data directory: --data, else $TESSERA_DATA, else ./tessera-data. */
export const dataDirOf = (flag?: string) => flag ?? process.env.TESSERA_DATA ?? DEFAULT_DATA_DIR;

const env = (name: string) => {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
};

/** TESSERA_INSECURE: 1/true/yes on, 0/false/no off (an explicit off beats a context's on). */
function insecureFromEnv(): boolean | undefined {
  const v = env('TESSERA_INSECURE')?.toLowerCase();
  if (v === undefined) return undefined;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new TesseraError('invalid_input', `TESSERA_INSECURE is 1 or 0, not '${process.env.TESSERA_INSECURE}'`);
}

export function resolveTarget(flags: ConnectionFlags): Target {
  const ctx = currentContext();
  const c: Context = ctx?.context ?? {};
  let url: string | undefined;
  let urlFrom = '';
  if (flags.url) [url, urlFrom] = [flags.url, 'flag --url'];
  else if (env('TESSERA_URL')) [url, urlFrom] = [env('TESSERA_URL'), 'TESSERA_URL'];
  else if (c.url) [url, urlFrom] = [c.url, `context ${ctx!.name}`];
  let localCa: string | undefined;
  if (!url) {
    const explicitData = flags.data ?? env('TESSERA_DATA');
    const data = dataDirOf(flags.data);
    const { node, stale } = readNodeFile(data);
    if (node?.url) {
      [url, urlFrom, localCa] = [node.url, nodeFilePath(data), node.ca];
    } else if (stale) {
      throw withExitCode(new TesseraError('unavailable', `the node of ${data} is not running (${nodeFilePath(data)} is left from pid ${stale.pid}); start it with \`tessera serve --data ${data}\` or pass --url`), EXIT.unreachable);
    } else if (explicitData) {
      const why = existsSync(data) ? `no node is running on ${data} (it has no node.json)` : `${data} does not exist`;
      throw withExitCode(new TesseraError('unavailable', `${why}; start one with \`tessera serve --data ${data}\` or pass --url`), EXIT.unreachable);
    } else [url, urlFrom] = [DEFAULT_URL, 'default'];
  }
  let parsed: URL;
  try {
    parsed = new URL(url!);
  } catch {
    throw new TesseraError('invalid_input', `the node URL '${url}' (from ${urlFrom}) is not a URL: give https://HOST:PORT`);
  }
  if (parsed.protocol !== 'https:') throw new TesseraError('invalid_input', `the node URL must be https, not ${parsed.protocol} ('${url}', from ${urlFrom})`);
  const identity = flags.identity ?? env('TESSERA_IDENTITY') ?? c.identity;
  const ca = flags.ca ?? env('TESSERA_CA') ?? c.ca ?? localCa ?? (identity ? caPathFor(identity) : undefined);
  const auditors = flags.auditor?.length ? flags.auditor : env('TESSERA_AUDITORS') ? env('TESSERA_AUDITORS')!.split(',').map((s) => s.trim()).filter(Boolean) : (c.auditors ?? []);
  const insecure = flags.insecureSkipVerification ? true : (insecureFromEnv() ?? c.insecureSkipVerification ?? false);
  setTarget(url!);
  return {
    url: url!,
    urlFrom,
    ca: ca && resolve(ca),
    identity,
    enclaveInfo: flags.enclaveInfo ?? env('TESSERA_ENCLAVE_INFO') ?? c.enclaveInfo,
    auditors,
    insecureSkipVerification: insecure,
  };
}
