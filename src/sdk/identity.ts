import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { TesseraError } from '../errors/index.js';

export interface Identity {
  userId: string;
  cert: string;
  key: string;
  token: string;
  /** The node CA, when the folder sits in a data directory (DATA/identities/NAME) or holds ca.pem. */
  ca?: string;
}

/** Reads an identity folder as `tessera user add` writes it: cert.pem, key.pem and token. */
export function loadIdentity(dir: string): Identity {
  const path = resolve(dir);
  const need = (f: string) => {
    const p = join(path, f);
    if (!existsSync(p)) throw new TesseraError('not_found', `${p} is missing: an identity folder holds cert.pem, key.pem and token (as 'tessera user add' makes it)`);
    return readFileSync(p, 'utf8');
  };
  const caCandidates = [join(path, 'ca.pem'), join(path, '..', '..', 'ca.pem')];
  const ca = caCandidates.find((p) => existsSync(p));
  return { userId: basename(path), cert: need('cert.pem'), key: need('key.pem'), token: need('token').trim(), ca: ca ? readFileSync(ca, 'utf8') : undefined };
}
