import { CommanderError } from 'commander';
import { TesseraError } from '../errors/index.js';

// How a failure reaches the user: one line on stderr, `tessera: …`, and an exit code from this table
// (docs/cli.md lists it). A stack trace only with --debug or TESSERA_DEBUG=1: every ordinary mistake (a
// missing file, a busy port, no node running, a certificate that does not verify) is said in words.

export const EXIT = {
  ok: 0,
  /** The command failed: the node refused, a file is missing, a proposal was rejected… */
  failure: 1,
  /** The command line is wrong: unknown command or option, missing argument, invalid value. */
  usage: 2,
  /** No node answers at the URL (connection refused, unknown host, timed out). */
  unreachable: 3,
  /** Something did not verify: the node's TLS certificate, its attestation, the auditors' signatures, a ledger. */
  verification: 4,
  /** `tessera serve` cannot listen: a port is in use or not allowed. */
  cannot_listen: 5,
} as const;

const tagged = new WeakMap<object, number>();

/** Marks `err` to end the process with `code` (see EXIT); returns it, to be thrown. */
export function withExitCode<E extends Error>(err: E, code: number): E {
  tagged.set(err, code);
  return err;
}

let target: string | undefined;
/** The URL the command is about to reach, named when it cannot be reached. */
export const setTarget = (url: string) => {
  target = url;
};

export const debugEnabled = (argv = process.argv) => argv.includes('--debug') || process.env.TESSERA_DEBUG === '1';

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN']);
const TLS = /CERT|SIGNATURE|ISSUER|SELF_SIGNED|ERR_SSL|ERR_TLS|EPROTO/;
const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  EEXIST: 'it exists already',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
};

type Sys = Error & { code?: string; path?: string; syscall?: string; errors?: unknown[] };

/** The system error under `err` (its cause chain, or the first of an AggregateError), if any. */
function systemError(err: unknown): Sys | undefined {
  for (let e = err as Sys | undefined, depth = 0; e && depth < 5; e = (e as { cause?: Sys }).cause, depth++) {
    if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e;
    if (e.code && TLS.test(e.code)) return e;
    if (Array.isArray(e.errors) && e.errors[0]) return systemError(e.errors[0]);
  }
  return undefined;
}

/** The one line and the exit code for anything a command threw. */
export function describeFailure(err: unknown): { message: string; exitCode: number; expected: boolean } {
  if (err instanceof CommanderError) return { message: err.message, exitCode: err.exitCode === 0 ? 0 : EXIT.usage, expected: true };
  const e = err as Sys;
  const explicit = e && typeof e === 'object' ? tagged.get(e) : undefined;
  if (explicit !== undefined) return { message: e.message, exitCode: explicit, expected: true };
  const sys = systemError(err);
  if (sys?.code && UNREACHABLE.has(sys.code)) {
    const where = target ?? 'the node';
    const why = sys.code === 'ENOTFOUND' || sys.code === 'EAI_AGAIN' ? `${sys.code}: the host name does not resolve` : sys.code;
    return { message: `no node answers at ${where} (${why}); start one with \`tessera serve\` or pass --url`, exitCode: EXIT.unreachable, expected: true };
  }
  if (sys?.code && TLS.test(sys.code)) {
    return { message: `the node at ${target ?? 'the URL'} did not pass the TLS check (${sys.code}: ${sys.message}); pass --ca with that node's ca.pem`, exitCode: EXIT.verification, expected: true };
  }
  if (sys?.code && FILE_ERRORS[sys.code] && sys.path) {
    return { message: `${sys.path}: ${FILE_ERRORS[sys.code]}`, exitCode: EXIT.failure, expected: true };
  }
  if (err instanceof TesseraError) {
    if (err.code === 'unavailable' && /cannot reach the node/.test(err.message)) return { message: `${err.message}; start one with \`tessera serve\` or pass --url`, exitCode: EXIT.unreachable, expected: true };
    return { message: err.message, exitCode: EXIT.failure, expected: true };
  }
  if (e?.name === 'ApiError') return { message: e.message, exitCode: EXIT.failure, expected: true };
  return { message: e?.message ?? String(err), exitCode: EXIT.failure, expected: false };
}

/** Prints the failure as one line (with the stack under --debug, or for a bug) and ends the process. */
export function fail(err: unknown): never {
  const { message, exitCode, expected } = describeFailure(err);
  if (exitCode === 0) process.exit(0);
  const isCommander = err instanceof CommanderError;
  if (!isCommander) process.stderr.write(`tessera: ${message}\n`);
  if (debugEnabled() && (err as Error)?.stack && !isCommander) process.stderr.write(`${(err as Error).stack}\n`);
  else if (!expected) process.stderr.write('(this looks like a bug in tessera: run again with --debug for the stack trace, and report it)\n');
  process.exit(exitCode);
}
