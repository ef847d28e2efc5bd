import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TesseraError } from '../../errors/index.js';
import { caPathFor } from '../../sdk/identity.js';
import type { PublicNode } from '../../sdk/node-reads.js';

// The flags of the commands that read a node anonymously (`tessera status`, `tessera ledger receipt`):
// which node, and the CA to trust. No certificate or token is sent.

export interface PublicNodeFlags {
  url: string;
  ca?: string;
  identity?: string;
  data?: string;
}

export const publicNodeOptions = (cmd: Command) =>
  cmd
    .option('--url <url>', 'the node (or $TESSERA_URL)', process.env.TESSERA_URL ?? 'https://127.0.0.1:8000')
    .option('--ca <file>', 'the node CA, also the service certificate (or $TESSERA_CA; default: ca.pem of --identity or --data)')
    .option('-i, --identity <dir>', 'an identity folder, only for the ca.pem it holds (or $TESSERA_IDENTITY)')
    .option('-d, --data <dir>', "the node's data directory, only for its ca.pem (on the node's machine)");

/** The CA file: --ca, $TESSERA_CA, the identity folder's ca.pem, DATA/ca.pem; each named if it is missing. */
export function publicNodeFromFlags(flags: PublicNodeFlags): PublicNode & { caPath: string } {
  const identity = flags.identity ?? process.env.TESSERA_IDENTITY;
  const caPath =
    flags.ca ??
    process.env.TESSERA_CA ??
    (identity ? caPathFor(identity) : undefined) ??
    (flags.data ? join(flags.data, 'ca.pem') : undefined);
  if (!caPath) throw new TesseraError('invalid_input', 'which CA? pass --ca FILE (the node\'s ca.pem), --identity DIR (a folder holding ca.pem), --data DIR, or set TESSERA_CA');
  if (!existsSync(caPath)) throw new TesseraError('not_found', `${caPath} does not exist: --ca takes the node's ca.pem`);
  return { url: flags.url, ca: readFileSync(caPath, 'utf8'), caPath };
}
