import type { Logger } from 'pino';
import { CCF_CRYPTO } from '../crypto/ccf-crypto.js';
import { certIdOfPem } from '../crypto/certificates.js';
import { type GovKvDeps, type GovPhase, govKvHost } from './ccf-kv.js';
import { jwksProblem } from './jwks.js';
import { GOV } from './tables.js';

// The `ccf` global for governance code (the constitution and ballots), as CCF installs it there
// (src/js/extensions in CCF): ccf.kv over the governance tables with the phase's access rules (ccf-kv.ts),
// the converters (strToBuf, bufToStr, jsonCompatibleToBuf, bufToJsonCompatible, pemToId), ccf.crypto,
// ccf.gov.validateConstitution everywhere, and in apply only the governance effects:
// ccf.refreshAppBytecodeCache, ccf.setJwtPublicSigningKeys, ccf.removeJwtPublicSigningKeys, ccf.node.* and
// ccf.network.*. Tessera's own default constitution also gets its three tessera_* functions as globals.
//
// The guest half below runs in the sandbox before the constitution; host functions reach it as `H`
// (named __g_*) and are never globals. TODO(issue 17): becomes a *.sandbox.ts module once that exists.
export const GOV_PRELUDE = String.raw`
const hostFns = H;
(() => {
  const H = {};
  for (const k of Object.keys(hostFns)) if (k.startsWith('__g_')) H[k.slice(4)] = hostFns[k];
  for (const k of Object.keys(hostFns)) if (k.startsWith('tessera_')) globalThis[k] = hostFns[k];
  const argc = (args, n) => { if (args.length !== n) throw new TypeError('Passed ' + args.length + ' arguments, but expected ' + n); };
  const isBuf = (b) => b instanceof ArrayBuffer;
  const fmt = (args) => args.map((a) => (typeof a === 'string' ? a : (() => { try { return JSON.stringify(a); } catch { return String(a); } })())).join(' ');
  globalThis.console = { log: (...a) => H.log(fmt(a)), info: (...a) => H.log(fmt(a)), debug: (...a) => H.log(fmt(a)), warn: (...a) => H.log(fmt(a)), error: (...a) => H.log(fmt(a)) };

  const strToBuf = (...a) => { argc(a, 1); if (typeof a[0] !== 'string') throw new TypeError('Argument must be a string'); return H.strToBuf(a[0]); };
  const bufToStr = (...a) => { argc(a, 1); if (!isBuf(a[0])) throw new TypeError('Argument must be an ArrayBuffer'); return H.bufToStr(a[0]); };

  const method = (table, name, args, n) => {
    argc(args, n);
    for (const x of args) if (!isBuf(x)) throw new TypeError(name === 'set' ? 'Arguments must be ArrayBuffers' : 'Argument must be an ArrayBuffer');
    return H.kv(table, name, ...args);
  };
  const mapFor = (table) => ({
    has: (...a) => method(table, 'has', a, 1),
    get: (...a) => method(table, 'get', a, 1),
    getVersionOfPreviousWrite: (...a) => method(table, 'version', a, 1),
    set(...a) { method(table, 'set', a, 2); return this; },
    delete: (...a) => { method(table, 'delete', a, 1); },
    clear: (...a) => { argc(a, 0); H.kv(table, 'clear'); },
    forEach(...a) {
      argc(a, 1);
      if (typeof a[0] !== 'function') throw new TypeError('Argument must be a function');
      for (const [k, v] of H.kv(table, 'entries')) a[0](v, k, this);
    },
    get size() { return H.kv(table, 'size'); },
  });
  const kv = new Proxy({}, { get: (_t, name) => (typeof name === 'string' ? mapFor(name) : undefined) });

  const crypto = {};
  for (const [name, n] of Object.entries({
    sign: 3, verifySignature: 4, digest: 2, generateAesKey: 1, generateRsaKeyPair: undefined, generateEcdsaKeyPair: 1, generateEddsaKeyPair: 1,
    wrapKey: 3, unwrapKey: 3, isValidX509CertBundle: 1, isValidX509CertChain: 2,
    pubPemToJwk: undefined, pemToJwk: undefined, pubRsaPemToJwk: undefined, rsaPemToJwk: undefined, pubEddsaPemToJwk: undefined, eddsaPemToJwk: undefined,
    pubJwkToPem: 1, jwkToPem: 1, pubRsaJwkToPem: 1, rsaJwkToPem: 1, pubEddsaJwkToPem: 1, eddsaJwkToPem: 1,
  })) crypto[name] = (...a) => { if (n !== undefined) argc(a, n); return H.crypto(name, ...a); };

  const ccf = {
    strToBuf, bufToStr,
    jsonCompatibleToBuf: (...a) => { argc(a, 1); return strToBuf(JSON.stringify(a[0])); },
    bufToJsonCompatible: (...a) => { argc(a, 1); return JSON.parse(bufToStr(a[0])); },
    pemToId: (...a) => { argc(a, 1); if (typeof a[0] !== 'string') throw new TypeError('Argument must be a string'); return H.pemToId(a[0]); },
    kv, crypto,
    gov: {
      validateConstitution: (...a) => {
        argc(a, 1);
        if (typeof a[0] !== 'string') throw new TypeError('constitution is not a string');
        if (a[0].length === 0) throw new TypeError('constitution is empty');
        const problem = H.validateConstitution(a[0]);
        if (problem) throw new TypeError(problem);
        return true;
      },
    },
  };
  for (const k of ['generateAesKey', 'generateRsaKeyPair', 'generateEcdsaKeyPair', 'wrapKey', 'digest', 'isValidX509CertBundle', 'isValidX509CertChain']) ccf[k] = crypto[k];
  if (H.effect) {
    ccf.refreshAppBytecodeCache = (...a) => { argc(a, 0); H.effect('refreshAppBytecodeCache'); };
    ccf.setJwtPublicSigningKeys = (...a) => { argc(a, 3); H.effect('setJwtPublicSigningKeys', ...a); };
    ccf.removeJwtPublicSigningKeys = (...a) => { argc(a, 1); H.effect('removeJwtPublicSigningKeys', ...a); };
    ccf.node = {};
    for (const name of ['triggerLedgerRekey', 'transitionServiceToOpen', 'triggerRecoverySharesRefresh', 'triggerLedgerChunk', 'triggerSnapshot']) ccf.node[name] = (...a) => H.effect('node.' + name, ...a);
    ccf.network = {};
    for (const name of ['getLatestLedgerSecretSeqno', 'generateEndorsedCertificate', 'generateNetworkCertificate']) ccf.network[name] = (...a) => H.effect('network.' + name, ...a);
  }
  globalThis.ccf = ccf;
})();
`;

export interface GovHostOptions {
  deps: GovKvDeps;
  phase: GovPhase;
  logger: Logger;
  /** In apply: the proposal being applied. */
  proposalId?: string;
}

const ab = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The host functions behind GOV_PRELUDE, bound to one transaction and phase. */
export function govHost(opts: GovHostOptions): Record<string, (...args: any[]) => unknown> {
  const { deps, phase, logger } = opts;
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const host: Record<string, (...args: any[]) => unknown> = {
    __g_log: (message: unknown) => logger.info({ tag: 'gov' }, String(message).slice(0, 16384)),
    __g_strToBuf: (s: string) => ab(Buffer.from(s, 'utf8')),
    __g_bufToStr: (b: ArrayBuffer) => decoder.decode(b),
    __g_pemToId: (pem: string) => certIdOfPem(pem),
    __g_kv: govKvHost(deps, phase),
    __g_crypto: (name: string, ...args: unknown[]) => {
      const fn = CCF_CRYPTO[name];
      if (!fn) throw new TypeError(`ccf.crypto.${name} is not a function`);
      return fn(...args);
    },
    __g_validateConstitution: (source: string) => deps.constitutionProblem(source),
  };
  if (phase === 'rw') host.__g_effect = (name: string, ...args: unknown[]) => effect(opts, name, args);
  return host;
}

const unsupported = (name: string, what: string) => {
  throw new Error(`${name} is not supported by Tessera: ${what}`);
};

/** CCF's governance effects (its GovEffectsExtension, NodeExtension and NetworkExtension), on Tessera's node. */
function effect(opts: GovHostOptions, name: string, args: unknown[]): unknown {
  const { tx } = opts.deps;
  switch (name) {
    case 'refreshAppBytecodeCache': {
      // Rewriting the flush record makes the app runtime drop compiled code and kept interpreters.
      const current = tx.get<{ disable_bytecode_cache?: boolean } | boolean>(GOV.interpreterFlush, 'flush');
      tx.put(GOV.interpreterFlush, 'flush', { disable_bytecode_cache: isObject(current) && current.disable_bytecode_cache === true, by: opts.proposalId });
      return undefined;
    }
    case 'setJwtPublicSigningKeys': {
      const [issuer, metadata, jwks] = args as [unknown, unknown, { keys?: unknown }];
      if (typeof issuer !== 'string') throw new TypeError('issuer argument is not a string');
      if (!isObject(metadata)) throw new TypeError('metadata argument is not a JSON object');
      if (!isObject(jwks) || !Array.isArray(jwks.keys)) throw new TypeError('jwks argument is not a JSON object');
      // As CCF's node: an unusable key set is refused whole, with the reason in the log only.
      const problem = jwksProblem(jwks);
      if (problem) {
        opts.logger.warn({ issuer, problem }, 'set_jwt_public_signing_keys refused');
        throw new Error('set_jwt_public_signing_keys() failed');
      }
      for (const [key] of tx.list(GOV.jwtKeys, `${issuer} `)) tx.delete(GOV.jwtKeys, key);
      for (const k of jwks.keys as Array<Record<string, unknown>>) {
        if (!isObject(k) || typeof k.kid !== 'string') throw new TypeError('every JWK needs a string kid');
        tx.put(GOV.jwtKeys, `${issuer} ${k.kid}`, k);
      }
      return undefined;
    }
    case 'removeJwtPublicSigningKeys': {
      const [issuer] = args;
      if (typeof issuer !== 'string') throw new TypeError('issuer argument is not a string');
      for (const [key] of tx.list(GOV.jwtKeys, `${issuer} `)) tx.delete(GOV.jwtKeys, key);
      return undefined;
    }
    case 'node.transitionServiceToOpen':
      // A Tessera service is open from init; CCF treats opening an open service as done (node_state.h).
      return undefined;
    case 'node.triggerLedgerRekey':
      return unsupported('ccf.node.triggerLedgerRekey', 'its ledger has no ledger secrets to rotate');
    case 'node.triggerRecoverySharesRefresh':
      return unsupported('ccf.node.triggerRecoverySharesRefresh', 'it has no recovery shares');
    case 'node.triggerLedgerChunk':
      return unsupported('ccf.node.triggerLedgerChunk', 'its ledger is not kept in chunks');
    case 'node.triggerSnapshot':
      return unsupported('ccf.node.triggerSnapshot', 'it takes no snapshots');
    case 'network.getLatestLedgerSecretSeqno':
      return unsupported('ccf.network.getLatestLedgerSecretSeqno', 'its ledger has no ledger secrets');
    case 'network.generateEndorsedCertificate':
      return unsupported('ccf.network.generateEndorsedCertificate', 'it has one node, whose certificate is made at init');
    case 'network.generateNetworkCertificate':
      return unsupported('ccf.network.generateNetworkCertificate', 'its service certificate is made at init');
  }
  throw new TypeError(`${name} is not a function`);
}
