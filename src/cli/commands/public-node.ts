import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TesseraError } from '../../errors/index.js';
import { nodeOptions } from '../client.js';
import { resolveTarget } from '../target.js';
import type { PublicNode } from '../../sdk/node-reads.js';

// The flags of the commands that read a node anonymously (`tessera status`, `tessera ledger receipt`):
// which node, and the CA to trust. No certificate or token is sent.

export interface PublicNodeFlags {
  url?: string;
  ca?: string;
  identity?: string;
  data?: string;
}

export const publicNodeOptions = (cmd: Command) =>
  nodeOptions(cmd.option('-i, --identity <dir>', 'an identity folder, only for the ca.pem it holds (or $TESSERA_IDENTITY)'));

/** The node and the CA to trust, found as every command finds them (flags, TESSERA_*, context, DATA/node.json: target.ts). */
export function publicNodeFromFlags(flags: PublicNodeFlags): PublicNode & { caPath: string } {
  const target = resolveTarget(flags);
  const caPath = target.ca ?? (flags.data ? join(flags.data, 'ca.pem') : undefined);
  if (!caPath) throw new TesseraError('invalid_input', "which CA? pass --ca FILE (the node's ca.pem), --identity DIR (a folder holding ca.pem), --data DIR, or set TESSERA_CA");
  if (!existsSync(caPath)) throw new TesseraError('not_found', `${caPath} does not exist: --ca takes the node's ca.pem`);
  return { url: target.url, ca: readFileSync(caPath, 'utf8'), caPath };
}
