import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { TesseraError } from '../errors/index.js';

export interface Identity {
  userId: string;
  cert: string;
  key: string;
  token: string;
  /** The node CA: the folder's ca.pem (as 'tessera user add' writes it), or DATA/ca.pem for a folder under DATA/identities (the layout before). */
  ca?: string;
}

/** The node CA for an identity folder: its own ca.pem, else DATA/ca.pem for a folder under DATA/identities (the layout before). */
export function caPathFor(dir: string): string | undefined {
  return [join(resolve(dir), 'ca.pem'), join(resolve(dir), '..', '..', 'ca.pem')].find((p) => existsSync(p));
}

/** Reads an identity folder as `tessera user add` writes it: cert.pem, key.pem and token. */
export function loadIdentity(dir: string): Identity {
  const path = resolve(dir);
  const need = (f: string) => {
    const p = join(path, f);
    if (!existsSync(p)) throw new TesseraError('not_found', `${p} is missing: an identity folder holds cert.pem, key.pem and token (as 'tessera user add' makes it)`);
    return readFileSync(p, 'utf8');
  };
  const ca = caPathFor(path);
  return { userId: basename(path), cert: need('cert.pem'), key: need('key.pem'), token: need('token').trim(), ca: ca ? readFileSync(ca, 'utf8') : undefined };
}
