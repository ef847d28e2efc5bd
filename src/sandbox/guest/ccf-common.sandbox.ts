// The part of CCF's `ccf` global that apps and governance share, for both of their guest preludes
// (apps/prelude.sandbox.ts, governance/gov-prelude.sandbox.ts): the argument checks, the converters,
// `ccf.kv`'s map handles, `ccf.crypto` and its old top-level names, and `console`. Guest code: it runs in
// the sandbox, bundled into each prelude at build time (scripts/build-sandbox.mjs builds no bundle of its
// own from this folder). Each function takes the host functions it calls, so the two preludes keep their
// own host bindings (apps bind them per request, governance per phase). What each function checks and the
// errors it throws follow CCF's src/js/extensions/ (ccf/converters.cpp, ccf/kv_helpers.h, ccf/crypto.cpp,
// console.cpp; Apache-2.0).
import type { CCF, CCFCrypto, KvMap, KvMaps } from '@microsoft/ccf-app/global.js';

export type HostFn = (...args: any[]) => any;

/** The host functions whose names start with `prefix`, by their names without it. */
export function hostFunctions(all: Record<string, HostFn>, prefix: string): Record<string, HostFn> {
  const out: Record<string, HostFn> = {};
  for (const k of Object.keys(all)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = all[k]!;
  return out;
}

/** CCF's argument-count check, with its message. */
export const argc = (args: unknown[], n: number): void => {
  if (args.length !== n) throw new TypeError(`Passed ${args.length} arguments, but expected ${n}`);
};
export const isBuf = (b: unknown): b is ArrayBuffer => b instanceof ArrayBuffer;

/** `console`, whose every method writes one line through `log` at CCF's level for it. */
export function installConsole(log: (level: 'info' | 'debug' | 'fail' | 'fatal', text: string) => void): void {
  const fmt = (args: unknown[]) =>
    args
      .map((a) => {
        if (typeof a === 'string') return a;
        try {
          return JSON.stringify(a);
        } catch {
          return String(a);
        }
      })
      .join(' ');
  const at = (level: 'info' | 'debug' | 'fail' | 'fatal') => (...a: unknown[]) => void log(level, fmt(a));
  (globalThis as { console: unknown }).console = { log: at('info'), info: at('info'), debug: at('debug'), warn: at('fail'), error: at('fatal') };
}

/** The host side of the converters. */
export interface ConverterHost {
  strToBuf(s: string): ArrayBuffer;
  bufToStr(b: ArrayBuffer): string;
  pemToId(pem: string): string;
}

/** `ccf.strToBuf`, `bufToStr`, `jsonCompatibleToBuf`, `bufToJsonCompatible` and `pemToId`. */
export function converters(host: ConverterHost) {
  const strToBuf = (...a: unknown[]): ArrayBuffer => {
    argc(a, 1);
    if (typeof a[0] !== 'string') throw new TypeError('Argument must be a string');
    return host.strToBuf(a[0]);
  };
  const bufToStr = (...a: unknown[]): string => {
    argc(a, 1);
    if (!isBuf(a[0])) throw new TypeError('Argument must be an ArrayBuffer');
    return host.bufToStr(a[0]);
  };
  return {
    strToBuf,
    bufToStr,
    jsonCompatibleToBuf: (...a: unknown[]) => {
      argc(a, 1);
      return strToBuf(JSON.stringify(a[0]));
    },
    bufToJsonCompatible: (...a: unknown[]) => {
      argc(a, 1);
      return JSON.parse(bufToStr(a[0]));
    },
    pemToId: (...a: unknown[]): string => {
      argc(a, 1);
      if (typeof a[0] !== 'string') throw new TypeError('Argument must be a string');
      return host.pemToId(a[0]);
    },
  } satisfies Pick<CCF, 'strToBuf' | 'bufToStr' | 'jsonCompatibleToBuf' | 'bufToJsonCompatible'> & { pemToId(pem: string): string };
}

/** One call on a table of the transaction the host has bound now: `has`, `get`, `version`, `set`, `delete`, `clear`, `entries`, `size`. */
export type KvCall = (table: string, method: string, ...args: unknown[]) => any;

/** Tessera's extension of a map handle (apps only): entries in key order, from (inclusive) and to (exclusive). */
export interface TesseraRange {
  tesseraRange(from?: ArrayBuffer, to?: ArrayBuffer): Array<[ArrayBuffer, ArrayBuffer]>;
}

/**
 * `ccf.kv`: a handle for any table name. Handles hold only the name; each call goes to `call`, so the
 * host decides per call which transaction and which access rules apply. `range` adds `tesseraRange`.
 */
export function makeKv(call: KvCall, range = false): KvMaps {
  const method = (table: string, name: string, args: unknown[], n: number) => {
    argc(args, n);
    for (const x of args) if (!isBuf(x)) throw new TypeError(name === 'set' ? 'Arguments must be ArrayBuffers' : 'Argument must be an ArrayBuffer');
    return call(table, name, ...args);
  };
  const mapFor = (table: string): KvMap & Partial<TesseraRange> => {
    const map: KvMap & Partial<TesseraRange> = {
      has: (...a: unknown[]) => method(table, 'has', a, 1),
      get: (...a: unknown[]) => method(table, 'get', a, 1),
      getVersionOfPreviousWrite: (...a: unknown[]) => method(table, 'version', a, 1),
      set(...a: unknown[]) {
        method(table, 'set', a, 2);
        return this;
      },
      delete: (...a: unknown[]) => void method(table, 'delete', a, 1),
      clear: (...a: unknown[]) => {
        argc(a, 0);
        call(table, 'clear');
      },
      forEach(...a: unknown[]) {
        argc(a, 1);
        const cb = a[0];
        if (typeof cb !== 'function') throw new TypeError('Argument must be a function');
        for (const [k, v] of call(table, 'entries') as Array<[ArrayBuffer, ArrayBuffer]>) cb(v, k, this);
      },
      get size() {
        return call(table, 'size') as number;
      },
    };
    if (range) map.tesseraRange = (from?: ArrayBuffer, to?: ArrayBuffer) => call(table, 'entries', from ?? null, to ?? null);
    return map;
  };
  return new Proxy({} as KvMaps, { get: (_t, name) => (typeof name === 'string' ? mapFor(name) : undefined) });
}

// Argument counts CCF checks (undefined: any number). Typed by CCFCrypto's keys, so a function the
// interface gains or loses fails the build here.
const CRYPTO_ARITY: Record<keyof CCFCrypto, number | undefined> = {
  sign: 3, verifySignature: 4, digest: 2, generateAesKey: 1, generateRsaKeyPair: undefined, generateEcdsaKeyPair: 1, generateEddsaKeyPair: 1,
  wrapKey: 3, unwrapKey: 3, isValidX509CertBundle: 1, isValidX509CertChain: 2,
  pubPemToJwk: undefined, pemToJwk: undefined, pubRsaPemToJwk: undefined, rsaPemToJwk: undefined, pubEddsaPemToJwk: undefined, eddsaPemToJwk: undefined,
  pubJwkToPem: 1, jwkToPem: 1, pubRsaJwkToPem: 1, rsaJwkToPem: 1, pubEddsaJwkToPem: 1, eddsaJwkToPem: 1,
};

/** `ccf.crypto`: each function checks its argument count and calls the host's `crypto(name, ...args)`. */
export function makeCrypto(call: (name: string, ...args: unknown[]) => any): CCFCrypto {
  const crypto: Record<string, HostFn> = {};
  for (const [name, n] of Object.entries(CRYPTO_ARITY)) {
    crypto[name] = (...a: unknown[]) => {
      if (n !== undefined) argc(a, n);
      return call(name, ...a);
    };
  }
  return crypto as unknown as CCFCrypto;
}

/** The names CCF still gives some of `ccf.crypto`'s functions at the top of `ccf` (deprecated there). */
export function cryptoAliases(crypto: CCFCrypto) {
  return {
    generateAesKey: crypto.generateAesKey,
    generateRsaKeyPair: crypto.generateRsaKeyPair,
    generateEcdsaKeyPair: crypto.generateEcdsaKeyPair,
    wrapKey: crypto.wrapKey,
    digest: crypto.digest,
    isValidX509CertBundle: crypto.isValidX509CertBundle,
    isValidX509CertChain: crypto.isValidX509CertChain,
  } satisfies Pick<CCF, 'generateAesKey' | 'generateRsaKeyPair' | 'generateEcdsaKeyPair' | 'wrapKey' | 'digest' | 'isValidX509CertBundle' | 'isValidX509CertChain'>;
}
