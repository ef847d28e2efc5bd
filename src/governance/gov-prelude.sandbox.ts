// The `ccf` global of governance code (the constitution and ballots), as CCF installs it there
// (src/js/extensions in CCF, Apache-2.0): what apps also have (sandbox/guest/ccf-common.sandbox.ts) over
// the governance tables, `ccf.gov.validateConstitution` in every phase, and in apply only the governance
// effects. Guest code, bundled at build time; the host functions it calls (ccf-global.ts, govHost) are in
// scope as `H`, named `__g_*`, and stay out of the global scope. Tessera's own default constitution also
// gets the host's `tessera_*` functions as globals.
import type { CCF } from '@microsoft/ccf-app/global.js';
import { argc, type ConverterHost, converters, cryptoAliases, type HostFn, hostFunctions, installConsole, type KvCall, makeCrypto, makeKv } from '../sandbox/guest/ccf-common.sandbox.js';

declare const H: Record<string, HostFn>;

/** CCF's governance effects (GovEffectsExtension, NodeExtension, NetworkExtension), in apply only. */
interface GovEffects {
  refreshAppBytecodeCache(): void;
  setJwtPublicSigningKeys(issuer: string, metadata: unknown, jwks: unknown): void;
  removeJwtPublicSigningKeys(issuer: string): void;
  node: Record<(typeof NODE)[number], HostFn>;
  network: Record<(typeof NETWORK)[number], HostFn>;
}

/** `ccf` in governance: the part of `@microsoft/ccf-app`'s `CCF` that CCF gives governance, and its own. */
type GovCcf = Pick<
  CCF,
  'strToBuf' | 'bufToStr' | 'jsonCompatibleToBuf' | 'bufToJsonCompatible' | 'kv' | 'crypto' | 'generateAesKey' | 'generateRsaKeyPair' | 'generateEcdsaKeyPair' | 'wrapKey' | 'digest' | 'isValidX509CertBundle' | 'isValidX509CertChain'
> & {
  pemToId(pem: string): string;
  gov: { validateConstitution(constitution: string): boolean };
} & Partial<GovEffects>;

const NODE = ['triggerLedgerRekey', 'transitionServiceToOpen', 'triggerRecoverySharesRefresh', 'triggerLedgerChunk', 'triggerSnapshot'] as const;
const NETWORK = ['getLatestLedgerSecretSeqno', 'generateEndorsedCertificate', 'generateNetworkCertificate'] as const;

const host = hostFunctions(H, '__g_');
for (const [k, fn] of Object.entries(hostFunctions(H, 'tessera_'))) (globalThis as Record<string, unknown>)[`tessera_${k}`] = fn;

installConsole((level, text) => void host.log!(level, text));

const crypto = makeCrypto(host.crypto!);
const ccf: GovCcf = {
  ...converters(host as unknown as ConverterHost),
  kv: makeKv(host.kv as KvCall),
  crypto,
  gov: {
    validateConstitution: (...a: unknown[]) => {
      argc(a, 1);
      if (typeof a[0] !== 'string') throw new TypeError('constitution is not a string');
      if (a[0].length === 0) throw new TypeError('constitution is empty');
      const problem = host.validateConstitution!(a[0]) as string | null;
      if (problem) throw new TypeError(problem);
      return true;
    },
  },
  ...cryptoAliases(crypto),
};
if (host.effect) {
  const effect = host.effect;
  ccf.refreshAppBytecodeCache = (...a: unknown[]) => {
    argc(a, 0);
    effect('refreshAppBytecodeCache');
  };
  ccf.setJwtPublicSigningKeys = (...a: unknown[]) => {
    argc(a, 3);
    effect('setJwtPublicSigningKeys', ...a);
  };
  ccf.removeJwtPublicSigningKeys = (...a: unknown[]) => {
    argc(a, 1);
    effect('removeJwtPublicSigningKeys', ...a);
  };
  ccf.node = {} as GovEffects['node'];
  for (const name of NODE) ccf.node[name] = (...a: unknown[]) => effect(`node.${name}`, ...a);
  ccf.network = {} as GovEffects['network'];
  for (const name of NETWORK) ccf.network[name] = (...a: unknown[]) => effect(`network.${name}`, ...a);
}
(globalThis as { ccf?: unknown }).ccf = ccf;
