import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { parse } from 'smol-toml';
import { TesseraError } from '../errors/index.js';
import type { Measurement } from './measurement.js';
import { type HardwarePolicy, parseHardwarePolicy } from './hardware-policy.js';

/** A measurement the auditors signed, under a service, with what they require of the hardware under it. */
export type AllowedMeasurement = Measurement & { service?: string; hardware?: HardwarePolicy };

const SERVICE_KEYS = ['mr_enclave', 'mr_signer', 'hardware'];

const HEX64 = /^[0-9a-f]{64}$/;

/** Parses enclave_info.toml into its tables; every table needs mr_enclave and mr_signer as 64 lowercase hex, and may hold a `hardware` table. */
export function parseEnclaveInfo(text: string): Record<string, AllowedMeasurement> {
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new TesseraError('parse_error', `enclave_info.toml is not valid TOML: ${(err as Error).message}`);
  }
  const out: Record<string, AllowedMeasurement> = {};
  for (const [name, table] of Object.entries(raw)) {
    const t = table as Partial<Measurement> & { hardware?: unknown };
    if (typeof t !== 'object' || !HEX64.test(String(t.mr_enclave)) || !HEX64.test(String(t.mr_signer))) {
      throw new TesseraError('invalid_input', `enclave_info.toml: [${name}] needs mr_enclave and mr_signer as 64 lowercase hex characters`);
    }
    const unknown = Object.keys(t).find((k) => !SERVICE_KEYS.includes(k));
    if (unknown) throw new TesseraError('invalid_input', `enclave_info.toml: [${name}] has an unknown key '${unknown}' (known: ${SERVICE_KEYS.join(', ')})`);
    const hardware = parseHardwarePolicy(name, t.hardware);
    out[name] = { mr_enclave: t.mr_enclave!, mr_signer: t.mr_signer!, service: name, ...(hardware ? { hardware } : {}) };
  }
  if (Object.keys(out).length === 0) throw new TesseraError('invalid_input', 'enclave_info.toml lists no services');
  return out;
}

/** Reads an auditor's public key: PEM (SPKI or PKCS#1) or DER (SPKI, or PKCS#1 RSAPublicKey as MesaTEE ships them). */
export function loadAuditorKey(bytes: Buffer | string): KeyObject {
  const text = Buffer.isBuffer(bytes) ? bytes.toString('latin1') : bytes;
  if (text.includes('-----BEGIN')) return createPublicKey(text);
  const der = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1');
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      return createPublicKey({ key: der, format: 'der', type });
    } catch {
      /* try the next form */
    }
  }
  throw new TesseraError('invalid_input', 'the auditor key is neither PEM nor a DER SPKI or PKCS#1 public key');
}

/** Verifies one detached signature over the exact bytes: RSA PKCS#1 v1.5 / SHA-256, or ECDSA P-256 / SHA-256 (DER). */
export function verifyAuditorSignature(data: Buffer, key: KeyObject, signature: Buffer): boolean {
  if (key.asymmetricKeyType === 'rsa') return verify('sha256', data, key, signature);
  if (key.asymmetricKeyType === 'ec') {
    return verify('sha256', data, key, signature) || (signature.length === 64 && verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature));
  }
  throw new TesseraError('invalid_input', `auditor keys must be RSA or ECDSA P-256, not ${key.asymmetricKeyType}`);
}

export interface AuditorSignature {
  name: string;
  key: KeyObject;
  signature: Buffer;
}

export interface VerifiedEnclaveInfo {
  digest: string;
  services: Record<string, AllowedMeasurement>;
  auditors: string[];
}

/**
 * The auditors' check, the same in the SDK and the CLI: at least one auditor, each key distinct, and
 * every signature valid over the file's exact bytes. A failure names the auditor and what to do.
 */
export function verifyEnclaveInfo(bytes: Buffer, auditors: AuditorSignature[]): VerifiedEnclaveInfo {
  if (auditors.length === 0) {
    throw new TesseraError('permission_denied', 'no auditors given: without at least one auditor signature nothing about the node can be trusted');
  }
  const seen = new Set<string>();
  for (const a of auditors) {
    const id = createHash('sha256').update(a.key.export({ format: 'der', type: 'spki' })).digest('hex');
    if (seen.has(id)) throw new TesseraError('invalid_input', `auditor '${a.name}' uses the same key as another auditor; each auditor must be distinct`);
    seen.add(id);
  }
  for (const a of auditors) {
    if (!verifyAuditorSignature(bytes, a.key, a.signature)) {
      throw new TesseraError(
        'permission_denied',
        `auditor check failed: the signature of '${a.name}' does not verify over enclave_info.toml (the file was changed, or the key or signature is wrong); get the file and signatures the auditors published`,
      );
    }
  }
  return {
    digest: createHash('sha256').update(bytes).digest('hex'),
    services: parseEnclaveInfo(bytes.toString('utf8')),
    auditors: auditors.map((a) => a.name),
  };
}
