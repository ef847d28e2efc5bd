import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { Encoder, Tag } from 'cbor-x';
import { type KeyObject, sign } from 'node:crypto';
import type { TestNode } from '../helpers/cli.js';
import { passProposal } from '../helpers/gov.js';
import { https, type HttpsIdentity } from '../helpers/https-client.js';

// Helpers for the tests written from CCF's own tests (test/ccf/*.test.ts): deploying a bundle, a JWT
// issuer shaped like CCF's tests/infra/jwt_issuer.py, and user COSE Sign1 envelopes as CCF's client
// (tests/infra/clients.py) signs app requests.

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export type Endpoints = Record<string, Record<string, { js_module: string; js_function: string; mode: string; authn_policies: unknown[]; forwarding_required?: string; interpreter_reuse?: unknown }>>;

export async function deploy(node: TestNode, bundle: { metadata: { endpoints: Endpoints }; modules: Array<{ name: string; module: string }> }, extra: unknown[] = []) {
  await passProposal(node, [{ name: 'set_js_app', args: { bundle, disable_bytecode_cache: false } }, ...extra]);
}

export const appUrl = (node: TestNode, path: string) => `https://127.0.0.1:${node.ports.https}/app${path}`;
export const anonymous = (node: TestNode): HttpsIdentity => ({ ca: node.ca });
export const as = (node: TestNode, name: string): HttpsIdentity => ({ cert: node.identity(name).cert, key: node.identity(name).key, ca: node.ca });
export const get = (node: TestNode, path: string, id: HttpsIdentity, headers: Record<string, string> = {}) => https(appUrl(node, path), id, { headers });

/** A self-signed certificate for `keys`, base64 DER, as the x5c of a JWK. */
export async function selfSignedX5c(keys: CryptoKeyPair, alg: RsaHashedKeyGenParams | EcKeyGenParams, name = 'CN=issuer'): Promise<string> {
  const signingAlgorithm = alg.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : alg;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name, notBefore: new Date(Date.now() - 86_400_000), notAfter: new Date(Date.now() + 86_400_000), keys, signingAlgorithm });
  return Buffer.from(cert.rawData).toString('base64');
}

export const RSA: RsaHashedKeyGenParams = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
export const EC: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };

/** A JWT as CCF's tests make them (infra/crypto.create_jwt): compact JWS with alg and kid. */
export async function signJwt(key: CryptoKey, kid: string, claims: Record<string, unknown>, alg = key.algorithm.name === 'ECDSA' ? 'ES256' : 'RS256', headerExtra: Record<string, unknown> = {}): Promise<string> {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const content = `${b64({ alg, kid, typ: 'JWT', ...headerExtra })}.${b64(claims)}`;
  const algorithm = key.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: key.algorithm.name };
  const sig = Buffer.from(await webcrypto.subtle.sign(algorithm, key, Buffer.from(content)));
  return `${content}.${sig.toString('base64url')}`;
}

const cbor = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });

/**
 * A COSE Sign1 envelope signed with `key` (ES256). By default its protected header is what CCF's client
 * puts on app requests: alg, kid and `ccf.gov.msg.created_at` only.
 */
export function userCose(key: KeyObject, kid: string, payload: Buffer, header: Map<unknown, unknown> = new Map<unknown, unknown>([['ccf.gov.msg.created_at', Math.floor(Date.now() / 1000)]]), opts: { alg?: number; tagged?: boolean } = {}): Buffer {
  const full = new Map<unknown, unknown>([[1, opts.alg ?? -7], [4, Buffer.from(kid, 'ascii')], ...header]);
  if (header.has(4) && header.get(4) === undefined) full.delete(4);
  const protectedBytes = Buffer.from(cbor.encode(full));
  const signature = sign('sha256', cbor.encode(['Signature1', protectedBytes, Buffer.alloc(0), payload]), { key, dsaEncoding: 'ieee-p1363' });
  const body = [protectedBytes, new Map(), payload, signature];
  return Buffer.from(cbor.encode(opts.tagged === false ? body : new Tag(body, 18)));
}

/**
 * Handlers of the auth tests' app (jwt, user-cose): `write` counts the writes that got through, `count`
 * reads the count back, so a refused request can be shown to have written nothing.
 */
export const COUNTER_HANDLERS = `
export function write(request) {
  const t = ccf.kv['public:writes']; const k = ccf.strToBuf('n');
  const v = t.get(k); const n = v === undefined ? 0 : Number(ccf.bufToStr(v));
  t.set(k, ccf.strToBuf(String(n + 1)));
  return { body: n + 1 };
}
export function count() { const v = ccf.kv['public:writes'].get(ccf.strToBuf('n')); return { body: v === undefined ? 0 : Number(ccf.bufToStr(v)) }; }
`;

/** An endpoint of the auth tests' app.js under `authn_policies`. */
export const authEndpoint = (js_function: string, mode: string, authn_policies: unknown[]) => ({ js_module: 'app.js', js_function, mode, authn_policies, forwarding_required: 'never' });
