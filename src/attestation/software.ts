import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import type { AttestationProvider, Evidence, ProviderCheck, TrustAnchors } from './evidence.js';

// The `software` provider, for machines without a TEE: the node's platform key (ECDSA P-256, in the
// data directory) signs the report. It shows that the certificate, the key and the measurement were
// put together by whoever holds that key — which says nothing about the hardware, or about whether
// the operator could read memory. Every place that shows it says so.

export const SOFTWARE_WARNING = 'software attestation: signed by the node’s own platform key; it proves nothing about the hardware or the operator';

/** Where the platform key is kept: sealed in the data directory (kms/key-files.ts's KeyFiles does this). */
export interface PlatformKeyFile {
  keyFiles: {
    exists(path: string, legacyPath?: string): boolean;
    read(path: string, role: 'platform', legacyPath?: string): string;
    write(path: string, role: 'platform', pem: string): void;
  };
  path: string;
  /** Where it was in the clear before keys were sealed. */
  legacyPath?: string;
}

export function loadOrCreatePlatformKey({ keyFiles, path, legacyPath }: PlatformKeyFile) {
  if (!keyFiles.exists(path, legacyPath)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    keyFiles.write(path, 'platform', privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  }
  return createPrivateKey(keyFiles.read(path, 'platform', legacyPath));
}

export function softwareProvider(keyFile: PlatformKeyFile): AttestationProvider {
  const key = loadOrCreatePlatformKey(keyFile);
  const platformKey = createPublicKey(key).export({ format: 'der', type: 'spki' }).toString('base64');
  return {
    name: 'software',
    async attest(reportData) {
      const report = Buffer.from(JSON.stringify({ provider: 'software', report_data: reportData.toString('hex'), platform_key: platformKey }));
      return { report, auxiliary: sign('sha256', report, key) };
    },
  };
}

export function verifySoftware(evidence: Evidence, trust: TrustAnchors): ProviderCheck {
  const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);
  const reportBytes = Buffer.from(evidence.report, 'base64');
  let report: { provider: string; report_data: string; platform_key: string };
  try {
    report = JSON.parse(reportBytes.toString('utf8'));
  } catch {
    throw fail('the software report is not JSON');
  }
  const key = createPublicKey({ key: Buffer.from(report.platform_key ?? '', 'base64'), format: 'der', type: 'spki' });
  if (!evidence.auxiliary || !verify('sha256', reportBytes, key, Buffer.from(evidence.auxiliary, 'base64'))) {
    throw fail('the software report is not signed by the platform key it names');
  }
  if (trust.softwarePlatformKeys?.length) {
    const pinned = trust.softwarePlatformKeys.map((pem) => createPublicKey(pem).export({ format: 'der', type: 'spki' }).toString('base64'));
    if (!pinned.includes(report.platform_key)) throw fail('the software platform key is not one of the pinned keys');
  }
  return { reportData: Buffer.from(report.report_data, 'hex'), hardware: false, description: SOFTWARE_WARNING };
}
