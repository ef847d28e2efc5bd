import type { Logger } from 'pino';
import { CCF_CRYPTO } from '../crypto/ccf-crypto.js';
import { certIdOfPem } from '../crypto/certificates.js';
import { type GovKvDeps, type GovPhase, govKvHost } from './ccf-kv.js';
import { guestSource } from '../sandbox/guest-source.js';
import { jwksProblem } from './jwks.js';
import { GOV } from './tables.js';

// The `ccf` global for governance code (the constitution and ballots), as CCF installs it there
// (src/js/extensions in CCF): ccf.kv over the governance tables with the phase's access rules (ccf-kv.ts),
// the converters (strToBuf, bufToStr, jsonCompatibleToBuf, bufToJsonCompatible, pemToId), ccf.crypto,
// ccf.gov.validateConstitution everywhere, and in apply only the governance effects:
// ccf.refreshAppBytecodeCache, ccf.setJwtPublicSigningKeys, ccf.removeJwtPublicSigningKeys, ccf.node.* and
// ccf.network.*. Tessera's own default constitution also gets its three tessera_* functions as globals.
//
// The guest half (gov-prelude.sandbox.ts, bundled at build time) runs in the sandbox before the
// constitution; the host functions below reach it as `H` (named __g_*) and are never globals.
export const GOV_PRELUDE = guestSource(import.meta.url, 'gov-prelude');

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
    // console.log and info log at info, debug at debug, warn at warn and error at error (the levels CCF's console has).
    __g_log: (level: unknown, message: unknown) => logger[level === 'fatal' ? 'error' : level === 'fail' ? 'warn' : level === 'debug' ? 'debug' : 'info']({ tag: 'gov' }, String(message).slice(0, 16384)),
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
