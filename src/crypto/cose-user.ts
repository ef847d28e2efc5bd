import { type KeyObject, verify } from 'node:crypto';
import { Decoder, Encoder, Tag } from 'cbor-x';

// COSE_Sign1 as CCF's `user_cose_sign1` policy reads it (CCF src/endpoints/authentication/cose_auth.cpp,
// extract_protected_header_and_signature): a tagged (18) COSE_Sign1 whose protected header must hold
// alg (1, an integer) and kid (4, a byte string: the user id in hex). Two optional entries,
// `ccf.msg.type` (text) and `ccf.msg.created_at` (a positive integer), are read when present and
// exposed; nothing else is required, so CCF's client, which signs app requests with only
// `ccf.gov.msg.created_at` (tests/infra/clients.py), is accepted. CCF does not check created_at for
// users: there is no tolerance window on this policy.

const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });
const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });

/** A malformed envelope: CCF throws COSEDecodeError, which its frontend answers with 500 InternalError and this message. */
export class CoseDecodeError extends Error {}

export interface UserCoseMessage {
  alg: number;
  kid: string;
  msgType?: string;
  createdAt?: number;
  payload: Buffer;
  /** Verifies the signature with the given public key, using the header's alg. */
  verify(key: KeyObject): boolean;
}

/** The hash each ECDSA COSE algorithm uses; CCF's is_ecdsa_alg accepts these three only. */
export const ECDSA_ALGS: Record<number, string> = { [-7]: 'sha256', [-35]: 'sha384', [-36]: 'sha512' };

export function decodeUserCoseSign1(envelope: Buffer, typeLabel = 'ccf.msg.type', createdAtLabel = 'ccf.msg.created_at'): UserCoseMessage {
  let outer: unknown;
  try {
    outer = decoder.decode(envelope);
  } catch {
    throw new CoseDecodeError('Failed to parse COSE_Sign1 outer array');
  }
  const tagged = outer instanceof Tag;
  const value = tagged ? (outer as Tag).value : outer;
  if (!Array.isArray(value)) throw new CoseDecodeError('Failed to parse COSE_Sign1 outer array');
  if (!tagged || (outer as Tag).tag !== 18) throw new CoseDecodeError('COSE_Sign1 is not tagged');
  if (value.length !== 4) throw new CoseDecodeError('Failed to decode COSE_Sign1');
  const [protectedBytes, , payload, signature] = value as [unknown, unknown, unknown, unknown];
  if (!(protectedBytes instanceof Uint8Array)) throw new CoseDecodeError('Failed to decode protected header: not a byte string');
  let header: unknown;
  try {
    header = decoder.decode(Buffer.from(protectedBytes));
  } catch {
    throw new CoseDecodeError('Failed to decode protected header: not CBOR');
  }
  if (!(header instanceof Map)) throw new CoseDecodeError('Failed to decode protected header: not a map');
  // QCBOR's GetItemsInMap fails the whole header when a listed label has another type than asked for.
  const alg = header.get(1);
  if (alg !== undefined && !Number.isInteger(alg)) throw new CoseDecodeError('Failed to decode protected header: alg is not an integer');
  const kid = header.get(4);
  if (kid !== undefined && !(kid instanceof Uint8Array)) throw new CoseDecodeError('Failed to decode protected header: kid is not a byte string');
  const msgType = header.get(typeLabel);
  if (msgType !== undefined && typeof msgType !== 'string') throw new CoseDecodeError(`Failed to decode protected header: ${typeLabel} is not a text string`);
  const createdAt = header.get(createdAtLabel);
  if (createdAt !== undefined && !Number.isInteger(createdAt)) throw new CoseDecodeError(`Failed to decode protected header: ${createdAtLabel} is not an integer`);
  if (alg === undefined) throw new CoseDecodeError('Missing algorithm in protected header');
  if (kid === undefined) throw new CoseDecodeError('Missing kid in protected header');
  if (!(signature instanceof Uint8Array)) throw new CoseDecodeError('Failed to decode COSE_Sign1');
  const payloadBuf = payload instanceof Uint8Array ? Buffer.from(payload) : null;
  const protectedBuf = Buffer.from(protectedBytes);
  const sig = Buffer.from(signature);
  return {
    alg: alg as number,
    kid: Buffer.from(kid as Uint8Array).toString('latin1'),
    msgType: msgType as string | undefined,
    // CCF keeps created_at only when it is above 0.
    createdAt: typeof createdAt === 'number' && createdAt > 0 ? createdAt : undefined,
    payload: payloadBuf ?? Buffer.alloc(0),
    verify: (key) => {
      // A detached payload (nil) cannot be verified from the body alone: t_cose refuses it in CCF too.
      const hash = ECDSA_ALGS[alg as number];
      if (!payloadBuf || !hash) return false;
      try {
        const toBeSigned = encoder.encode(['Signature1', protectedBuf, Buffer.alloc(0), payloadBuf]);
        return verify(hash, toBeSigned, { key, dsaEncoding: 'ieee-p1363' }, sig);
      } catch {
        return false;
      }
    },
  };
}
