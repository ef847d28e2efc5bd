import { X509Certificate } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { TesseraError } from '../errors/index.js';
import { type LeafComponents, type ProofStep, foldProof, leafOf } from './merkle.js';

/** A receipt in CCF's v1 JSON shape. */
export interface Receipt {
  signature: string;
  cert: string;
  node_id: string;
  proof: ProofStep[];
  leaf_components: LeafComponents;
  service_endorsements?: string[];
}

const fail = (why: string) => new TesseraError('permission_denied', `receipt check failed: ${why}`);

export const rawPublicKey = (cert: X509Certificate): Buffer => {
  const jwk = cert.publicKey.export({ format: 'jwk' }) as { crv?: string; x: string; y: string };
  if (jwk.crv !== 'P-256') throw fail(`the signing node's key is ${jwk.crv ?? 'not EC'}, not P-256`);
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
};

/** ECDSA P-256 over a 32-byte root taken as a pre-hashed SHA-256 digest, DER-encoded: as CCF signs. */
export function verifyRootSignature(root: Buffer, signatureDer: Buffer, cert: X509Certificate): boolean {
  try {
    return p256.verify(signatureDer, root, rawPublicKey(cert), { prehash: false, format: 'der' });
  } catch {
    return false;
  }
}

export function signRoot(root: Buffer, privateScalar: Buffer): Buffer {
  return Buffer.from(p256.sign(root, privateScalar, { prehash: false, format: 'der' }));
}

/**
 * Verifies a receipt offline, as CCF specifies: the leaf from its components, the proof folded up to
 * the root, the node's signature over the root, and the node's certificate endorsed by the service
 * certificate (through `service_endorsements`, in order, if any). Returns the root.
 */
export function verifyReceipt(receipt: Receipt, serviceCertPem: string): { root: string; leaf: string } {
  const c = receipt.leaf_components;
  if (!c || !/^[0-9a-f]{64}$/.test(c.write_set_digest) || !/^[0-9a-f]{64}$/.test(c.claims_digest) || !/^ce:\d+\.\d+:[0-9a-f]+$/.test(c.commit_evidence)) {
    throw fail('its leaf components are missing or malformed');
  }
  const leaf = leafOf(c);
  const root = foldProof(leaf, receipt.proof);
  const node = new X509Certificate(receipt.cert);
  if (!verifyRootSignature(root, Buffer.from(receipt.signature, 'base64'), node)) {
    throw fail('the signature does not verify over the root the proof gives: the transaction, the proof or the signature was altered');
  }
  const chain = [node, ...(receipt.service_endorsements ?? []).map((p) => new X509Certificate(p)), new X509Certificate(serviceCertPem)];
  for (let i = 0; i < chain.length - 1; i++) {
    if (!chain[i].verify(chain[i + 1].publicKey)) throw fail('the signing node is not endorsed by the service identity');
  }
  return { root: root.toString('hex'), leaf: leaf.toString('hex') };
}
