import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { TesseraError } from '../errors/index.js';

// Contexts, as `fn use context` has them: a named node with what it takes to talk to it (URL, CA,
// identity, attestation checks). One file, contexts.json, 0600 in a 0700 folder: it names key files.

export interface Context {
  url?: string;
  ca?: string;
  identity?: string;
  enclaveInfo?: string;
  auditors?: string[];
  insecureSkipVerification?: boolean;
}

export interface ContextFile {
  current?: string;
  contexts: Record<string, Context>;
}

/** $TESSERA_CONFIG_DIR, else $XDG_CONFIG_HOME/tessera, else ~/.config/tessera. */
export function configDir(): string {
  if (process.env.TESSERA_CONFIG_DIR) return process.env.TESSERA_CONFIG_DIR;
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'tessera');
}

export const contextsPath = () => join(configDir(), 'contexts.json');

export function readContexts(): ContextFile {
  const path = contextsPath();
  if (!existsSync(path)) return { contexts: {} };
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as ContextFile;
    return { current: parsed.current, contexts: parsed.contexts ?? {} };
  } catch (err) {
    throw new TesseraError('invalid_input', `${path} is not valid JSON (${(err as Error).message}): fix it or remove it`);
  }
}

export function writeContexts(file: ContextFile) {
  const path = contextsPath();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkContextName(name: string) {
  if (!NAME.test(name)) throw new TesseraError('invalid_input', `'${name}' cannot name a context: letters, digits, '.', '_' and '-', starting with a letter or digit`);
}

/** The current context, with its name, or none. $TESSERA_CONTEXT chooses another one for one command. */
export function currentContext(): { name: string; context: Context } | undefined {
  const file = readContexts();
  const name = process.env.TESSERA_CONTEXT || file.current;
  if (!name) return undefined;
  const context = file.contexts[name];
  if (!context) {
    if (process.env.TESSERA_CONTEXT) throw new TesseraError('not_found', `TESSERA_CONTEXT names '${name}', which is not a context; see \`tessera context list\``);
    return undefined; // the current one was removed by hand: as if none were chosen
  }
  return { name, context };
}
