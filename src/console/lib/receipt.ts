import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs it before it loads
import { X509Certificate } from '@peculiar/x509';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

// A CCF receipt verified in the browser with the same algorithm as `tessera ledger receipt`
// (src/cli/commands/ledger-receipt.ts -> receiptVerdict in src/sdk/node-reads.ts -> verifyReceipt in
// src/store/receipt.ts, leafOf and foldProof in src/store/merkle.ts; formats in docs/ledger.md):
//   leaf = SHA-256(write_set_digest ‖ SHA-256(commit_evidence) ‖ claims_digest)
//   root = the proof folded from the leaf, each step SHA-256(left ‖ cur) or SHA-256(cur ‖ right)
//   the node's ECDSA P-256 signature (DER, base64) over the root taken as a pre-hashed digest
//   the node certificate signed by the service certificate, through `service_endorsements` in order.
// Failure texts are the Node code's, so a console verdict reads as the CLI's. Like the Node code, the
// certificate checks are signature checks only: no validity period, names or extensions.

export interface ReceiptCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ReceiptVerdict {
  ok: boolean;
  checks: ReceiptCheck[];
  /** The root the proof gives and the leaf, hex: set when the receipt verifies, as the CLI's verdict. */
  root?: string;
  leaf?: string;
  /** Why it does not verify: the first failing check's detail, prefixed as the Node code's error. */
  reason?: string;
}

export const CHECK_NAMES = {
  leaf: 'leaf computed from components',
  proof: 'Merkle proof reaches the signed root',
  signature: 'node signature over the root',
  endorsement: 'node certificate endorsed by the service',
} as const;

// The Node code's messages (src/store/receipt.ts), word for word.
const PREFIX = 'receipt check failed: ';
const BAD_LEAF = 'its leaf components are missing or malformed';
const BAD_SIGNATURE = 'the signature does not verify over the root the proof gives: the transaction, the proof or the signature was altered';
const NOT_ENDORSED = 'the signing node is not endorsed by the service identity';

const HEX32 = /^[0-9a-f]{64}$/; // leaf components: lower case, as verifyReceipt's pattern
const HEX32_ANY_CASE = /^[0-9a-fA-F]{64}$/; // proof steps: Node's Buffer.from(hex) takes either case
const COMMIT_EVIDENCE = /^ce:\d+\.\d+:[0-9a-f]+$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));
const h = (...parts: Uint8Array[]) => sha256(concatBytes(...parts));

/** Standard or URL-safe base64, whitespace ignored, padding optional; null if it is not base64. */
function base64Bytes(s: string): Uint8Array | null {
  const clean = s.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) return null;
  const bare = clean.replace(/=+$/, '');
  if (bare.length % 4 === 1) return null;
  try {
    const bin = atob(bare + '='.repeat((4 - (bare.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function parseCert(pem: unknown, what: string): X509Certificate {
  if (typeof pem !== 'string' || !pem.trim()) throw new Error(`${what} is missing`);
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new Error(`${what} cannot be read as an X.509 certificate: ${errText(err)}`);
  }
}

/** The node key as an uncompressed P-256 point, or null if it is not a P-256 key (the Node code's rawPublicKey). */
async function p256Point(cert: X509Certificate): Promise<Uint8Array | null> {
  const alg = cert.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') return null;
  const key = await cert.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' }, ['verify']);
  return new Uint8Array(await globalThis.crypto.subtle.exportKey('raw', key));
}

/**
 * Verifies a receipt (CCF's v1 JSON, as an object or its JSON text) against the service certificate
 * (PEM). Never throws: malformed input gives ok:false and says what is wrong. Checks that cannot run
 * because an earlier one failed are listed as not checked (ok:false); `reason` is the first failure.
 */
export async function verifyReceiptInBrowser(receipt: unknown, serviceCertPem: string): Promise<ReceiptVerdict> {
  const checks: ReceiptCheck[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const verdict = (extra: { root?: string; leaf?: string }): ReceiptVerdict => {
    const failed = checks.find((c) => !c.ok);
    return failed ? { ok: false, checks, reason: PREFIX + failed.detail } : { ok: true, checks, ...extra };
  };

  try {
    let r: unknown = receipt;
    if (typeof r === 'string') {
      try {
        r = JSON.parse(r);
      } catch (err) {
        r = undefined;
        add(CHECK_NAMES.leaf, false, `the receipt is not JSON: ${errText(err)}`);
      }
    }
    if (!checks.length && !isObject(r)) add(CHECK_NAMES.leaf, false, `the receipt is not a JSON object (it is ${r === null ? 'null' : Array.isArray(r) ? 'an array' : typeof r})`);
    if (checks.length) {
      add(CHECK_NAMES.proof, false, 'not checked: there is no receipt');
      add(CHECK_NAMES.signature, false, 'not checked: there is no receipt');
      add(CHECK_NAMES.endorsement, false, 'not checked: there is no receipt');
      return verdict({});
    }
    const rec = r as Record<string, unknown>;

    // 1. The leaf, from its components (src/store/merkle.ts leafOf).
    let leaf: Uint8Array | undefined;
    const c = rec.leaf_components;
    if (isObject(c) && typeof c.write_set_digest === 'string' && HEX32.test(c.write_set_digest) && typeof c.claims_digest === 'string' && HEX32.test(c.claims_digest) && typeof c.commit_evidence === 'string' && COMMIT_EVIDENCE.test(c.commit_evidence)) {
      leaf = h(hexToBytes(c.write_set_digest), sha256(utf8ToBytes(c.commit_evidence)), hexToBytes(c.claims_digest));
      add(CHECK_NAMES.leaf, true, `leaf ${bytesToHex(leaf)} from write set ${c.write_set_digest.slice(0, 16)}…, ${c.commit_evidence.split(':').slice(0, 2).join(':')}, claims ${c.claims_digest.slice(0, 16)}…`);
    } else add(CHECK_NAMES.leaf, false, BAD_LEAF);

    // 2. The proof folded up to the root (src/store/merkle.ts foldProof). The root is only known to be
    // the signed one once check 3 passes: a CCF v1 receipt carries no root of its own.
    let root: Uint8Array | undefined;
    const proof = rec.proof;
    const badStep = !Array.isArray(proof)
      ? 'its proof is missing or not a list'
      : proof
          .map((step, i) => {
            if (!isObject(step) || Object.keys(step).length !== 1 || !('left' in step || 'right' in step)) return `its proof step ${i} is not {left: HASH} or {right: HASH}`;
            const hash = step.left ?? step.right;
            return typeof hash === 'string' && HEX32_ANY_CASE.test(hash) ? '' : `its proof step ${i} is not a 32-byte hex hash`;
          })
          .find(Boolean);
    if (badStep) add(CHECK_NAMES.proof, false, badStep);
    else if (!leaf) add(CHECK_NAMES.proof, false, 'not checked: there is no leaf to start from');
    else {
      let cur = leaf;
      for (const step of proof as Array<{ left?: string; right?: string }>) cur = step.left !== undefined ? h(hexToBytes(step.left.toLowerCase()), cur) : h(cur, hexToBytes(step.right!.toLowerCase()));
      root = cur;
      const n = (proof as unknown[]).length;
      add(CHECK_NAMES.proof, true, `${n} step${n === 1 ? '' : 's'} from the leaf to root ${bytesToHex(root)}`);
    }

    // 3. The node's signature over the root: ECDSA P-256, the root as a pre-hashed digest, DER
    // (src/store/receipt.ts verifyRootSignature: the same @noble/curves call with the same options).
    let nodeCert: X509Certificate | undefined;
    let nodeCertError = '';
    try {
      nodeCert = parseCert(rec.cert, "the receipt's node certificate");
    } catch (err) {
      nodeCertError = errText(err);
    }
    if (!root) add(CHECK_NAMES.signature, false, 'not checked: there is no root (the leaf or the proof is malformed)');
    else if (!nodeCert) add(CHECK_NAMES.signature, false, nodeCertError);
    else if (typeof rec.signature !== 'string') add(CHECK_NAMES.signature, false, 'its signature is missing or not a string');
    else {
      const sig = base64Bytes(rec.signature);
      if (!sig) add(CHECK_NAMES.signature, false, 'its signature is not base64');
      else {
        let good = false;
        try {
          const point = await p256Point(nodeCert);
          // As the Node code: a key that is not P-256 simply does not verify.
          good = point !== null && p256.verify(sig, root, point, { prehash: false, format: 'der' });
        } catch {
          good = false;
        }
        const who = typeof rec.node_id === 'string' ? `node ${rec.node_id.slice(0, 16)}…` : 'the node';
        add(CHECK_NAMES.signature, good, good ? `ECDSA P-256 signature by ${who} (${nodeCert.subject}) over root ${bytesToHex(root)}` : BAD_SIGNATURE);
      }
    }

    // 4. The node certificate endorsed by the service certificate, through service_endorsements in
    // order if any: each certificate's signature checked under the next one's key, signature only
    // (Node's X509Certificate.verify does not look at validity periods either).
    try {
      const ends = rec.service_endorsements;
      if (ends !== undefined && !Array.isArray(ends)) throw new Error('its service_endorsements is not a list');
      if (!nodeCert) throw new Error(nodeCertError);
      const chain = [nodeCert, ...((ends as unknown[] | undefined) ?? []).map((p, i) => parseCert(p, `service endorsement ${i}`)), parseCert(serviceCertPem, 'the service certificate')];
      let endorsed = true;
      for (let i = 0; i < chain.length - 1 && endorsed; i++) {
        try {
          endorsed = await chain[i].verify({ publicKey: chain[i + 1].publicKey, signatureOnly: true });
        } catch {
          endorsed = false;
        }
      }
      const service = chain[chain.length - 1];
      const via = chain.length > 2 ? ` through ${chain.length - 2} endorsement${chain.length === 3 ? '' : 's'}` : '';
      add(CHECK_NAMES.endorsement, endorsed, endorsed ? `the node certificate (${nodeCert.subject}) is signed by the service certificate (${service.subject})${via}` : NOT_ENDORSED);
    } catch (err) {
      add(CHECK_NAMES.endorsement, false, errText(err));
    }

    return verdict({ root: root && bytesToHex(root), leaf: leaf && bytesToHex(leaf) });
  } catch (err) {
    // Nothing above should throw; if something does, it is still a verdict.
    add('receipt verification', false, `unexpected error: ${errText(err)}`);
    return verdict({});
  }
}
