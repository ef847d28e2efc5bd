import type { MemberIdentity } from '../lib/member-signing.js';
import { get, hasToken, setToken } from './api.js';

// Who is signed in. A user is a TLS client certificate installed in the browser (the browser presents it;
// the console never sees its key) plus the bearer token. A member is a signing key imported into WebCrypto
// as non-extractable and kept in IndexedDB: script on this page can ask it to sign, but nobody, not even
// this console, can read it out, and it never leaves the browser.

export interface Whoami {
  name: string;
  role: 'user' | 'member' | 'service';
  cert_id: string;
}

export interface Session {
  /** The identity the browser's TLS certificate (and token) proves, if any. */
  tls: Whoami | null;
  /** The member whose key this browser holds, if any. */
  member: (MemberIdentity & { name: string }) | null;
}

const DB = 'tessera-console';
const STORE = 'identity';

function db(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function tx<T>(mode: IDBTransactionMode, run: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const d = await db();
  return new Promise((resolve, reject) => {
    const r = run(d.transaction(STORE, mode).objectStore(STORE));
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** The CryptoKey is stored as itself (structured clone keeps it non-extractable). */
export const saveMember = (m: MemberIdentity & { name: string }) => tx('readwrite', (s) => s.put(m, 'member'));
export const loadMember = () => tx<(MemberIdentity & { name: string }) | undefined>('readonly', (s) => s.get('member'));
export const forgetMember = () => tx('readwrite', (s) => s.delete('member'));

/** Asks the node who the browser's certificate (and token) make us; null when it has none of ours. */
export async function whoami(): Promise<Whoami | null> {
  try {
    return await get<Whoami>('/v1/whoami');
  } catch (err) {
    if ((err as { status?: number }).status === 401 && !hasToken()) return null;
    throw err;
  }
}

export async function signInUser(token: string): Promise<Whoami> {
  setToken(token.trim());
  try {
    const me = await get<Whoami>('/v1/whoami');
    if (me.role !== 'user') throw new Error(`the certificate in this browser is ${me.role} '${me.name}', not a user`);
    return me;
  } catch (err) {
    setToken(null);
    throw err;
  }
}

export const signOutUser = () => setToken(null);
