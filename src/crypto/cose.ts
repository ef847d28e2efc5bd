import { type KeyObject, X509Certificate, sign, verify } from 'node:crypto';
import { Decoder, Encoder, Tag } from 'cbor-x';
import { TesseraError } from '../errors/index.js';

// COSE_Sign1 (RFC 9052) as CCF's governance uses it: tag 18, an embedded payload, and a protected
// header with alg (1), kid (4: the member id's ASCII hex as a byte string) and CCF's message fields.

const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });
const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });

export type GovMessageType = 'proposal' | 'ballot' | 'withdrawal' | 'ack' | 'state_digest';

export interface CoseMessage {
  kid: string;
  type: GovMessageType;
  createdAt: number;
  proposalId?: string;
  payload: Buffer;
  /** The exact bytes of the envelope, for replay detection and ids. */
  envelope: Buffer;
  signature: Buffer;
  verify(cert: X509Certificate): boolean;
}

const ALGS: Record<number, { hash: string; curve: string }> = {
  [-7]: { hash: 'sha256', curve: 'P-256' },
  [-35]: { hash: 'sha384', curve: 'P-384' },
  [-36]: { hash: 'sha512', curve: 'P-521' },
};

const bad = (why: string, code: 'invalid_input' | 'invalid_created_at' = 'invalid_input') => new TesseraError(code, `COSE Sign1: ${why}`);

const sigStructure = (protectedBytes: Buffer, payload: Buffer) => encoder.encode(['Signature1', protectedBytes, Buffer.alloc(0), payload]);

export function decodeCoseSign1(envelope: Buffer): CoseMessage {
  let outer: unknown;
  try {
    outer = decoder.decode(envelope);
  } catch {
    throw bad('the body is not CBOR');
  }
  const value = outer instanceof Tag ? (outer.tag === 18 ? outer.value : null) : null;
  if (!Array.isArray(value) || value.length !== 4) throw bad('the body is not a tagged (18) COSE_Sign1 array');
  const [protectedBytes, , payload, signature] = value as [Uint8Array, unknown, Uint8Array | null, Uint8Array];
  if (!(protectedBytes instanceof Uint8Array) || !(signature instanceof Uint8Array)) throw bad('malformed COSE_Sign1 fields');
  if (!(payload instanceof Uint8Array)) throw bad('the payload must be embedded');
  let header: Map<unknown, unknown>;
  try {
    header = decoder.decode(Buffer.from(protectedBytes)) as Map<unknown, unknown>;
  } catch {
    throw bad('the protected header is not CBOR');
  }
  if (!(header instanceof Map)) throw bad('the protected header is not a map');
  const alg = header.get(1) as number;
  if (!ALGS[alg]) throw bad(`unsupported alg ${String(alg)}; use ES256, ES384 or ES512`);
  const kid = header.get(4);
  if (!(kid instanceof Uint8Array)) throw bad('kid (4) must be a byte string holding the member id in hex');
  const type = header.get('ccf.gov.msg.type');
  if (typeof type !== 'string') throw bad('ccf.gov.msg.type is missing');
  const createdAt = header.get('ccf.gov.msg.created_at');
  if (typeof createdAt !== 'number' || !Number.isInteger(createdAt)) throw bad('ccf.gov.msg.created_at (integer epoch seconds) is missing');
  if (createdAt > 9999999999 || createdAt < 0) throw bad(`created_at ${createdAt} is out of range`, 'invalid_created_at');
  const proposalId = header.get('ccf.gov.msg.proposal_id');
  const protectedBuf = Buffer.from(protectedBytes);
  const payloadBuf = Buffer.from(payload);
  const sigBuf = Buffer.from(signature);
  return {
    kid: Buffer.from(kid).toString('ascii'),
    type: type as GovMessageType,
    createdAt,
    proposalId: typeof proposalId === 'string' ? proposalId : undefined,
    payload: payloadBuf,
    envelope: envelope,
    signature: sigBuf,
    verify: (cert) => {
      try {
        return verify(ALGS[alg].hash, sigStructure(protectedBuf, payloadBuf), { key: cert.publicKey, dsaEncoding: 'ieee-p1363' }, sigBuf);
      } catch {
        return false;
      }
    },
  };
}

/** Signs a governance message as a member (what `ccf_cose_sign1` does). */
export function signCoseSign1(opts: { key: KeyObject; kid: string; type: GovMessageType; createdAt?: number; proposalId?: string; payload: Buffer }): Buffer {
  const header = new Map<unknown, unknown>([
    [1, -7],
    [4, Buffer.from(opts.kid, 'ascii')],
    ['ccf.gov.msg.type', opts.type],
    ['ccf.gov.msg.created_at', opts.createdAt ?? Math.floor(Date.now() / 1000)],
  ]);
  if (opts.proposalId) header.set('ccf.gov.msg.proposal_id', opts.proposalId);
  const protectedBytes = Buffer.from(encoder.encode(header));
  const signature = sign('sha256', sigStructure(protectedBytes, opts.payload), { key: opts.key, dsaEncoding: 'ieee-p1363' });
  return Buffer.from(encoder.encode(new Tag([protectedBytes, new Map(), opts.payload, signature], 18)));
}
