import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type VerifiedEnclaveInfo, loadAuditorKey, verifyEnclaveInfo } from '../attestation/enclave-info.js';
import { writeSecretFile } from '../crypto/secret-file.js';
import { TesseraError } from '../errors/index.js';

// An auditor's tools (`tessera audit`): a key pair, a detached signature over the node's
// enclave_info.toml, and the check of every auditor's signature that clients make before they connect.

export interface AuditorKeyOptions {
  /** rsa (4096-bit, signing RSA PKCS#1 v1.5 SHA-256, as MesaTEE) or ecdsa (P-256). */
  type: string;
  /** The public key as DER (PKCS#1 for RSA, as MesaTEE ships them; SPKI for ECDSA) instead of PEM. */
  der?: boolean;
  /** The folder to write to. */
  out: string;
}

/** Makes NAME.key.pem (private, 0600) and NAME.pub.pem (or NAME.pub.der); never overwrites. */
export function createAuditorKeys(name: string, opts: AuditorKeyOptions): { keyPath: string; pubPath: string } {
  if (opts.type !== 'rsa' && opts.type !== 'ecdsa') throw new TesseraError('invalid_input', `--type is rsa or ecdsa, not '${opts.type}'`);
  const { privateKey, publicKey } =
    opts.type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 4096 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyPath = join(opts.out, `${name}.key.pem`);
  const pubPath = join(opts.out, `${name}.pub.${opts.der ? 'der' : 'pem'}`);
  if (existsSync(keyPath) || existsSync(pubPath)) throw new TesseraError('conflict', `${keyPath} or ${pubPath} exists already; keygen never overwrites`);
  writeSecretFile(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  const pub = opts.der
    ? publicKey.export({ format: 'der', type: opts.type === 'rsa' ? 'pkcs1' : 'spki' })
    : publicKey.export({ format: 'pem', type: 'spki' });
  writeFileSync(pubPath, pub, { flag: 'wx' });
  return { keyPath, pubPath };
}

/**
 * Signs a file's exact bytes (detached): RSA PKCS#1 v1.5 or ECDSA P-256, with SHA-256. The signature goes
 * to `out`, or to KEYNAME.sign.sha256 beside the file; returns where.
 */
export function signAsAuditor(file: string, keyPath: string, out = ''): string {
  const key = createPrivateKey(readFileSync(keyPath));
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') throw new TesseraError('invalid_input', 'auditor keys are RSA or ECDSA P-256');
  const signature = sign('sha256', readFileSync(file), key);
  const path = out || join(dirname(file), `${basename(keyPath).replace(/\.key\.pem$|\.pem$/, '')}.sign.sha256`);
  writeFileSync(path, signature);
  return path;
}

/** Checks that every auditor's signature (files: a public key, PEM or DER, and a signature) verifies over enclave_info.toml. */
export function verifyAuditorSignatures(enclaveInfo: Buffer, auditors: { name: string; keyPath: string; signaturePath: string }[]): VerifiedEnclaveInfo {
  return verifyEnclaveInfo(
    enclaveInfo,
    auditors.map((a) => ({ name: a.name, key: loadAuditorKey(readFileSync(a.keyPath)), signature: readFileSync(a.signaturePath) })),
  );
}
