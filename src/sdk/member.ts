import { createPrivateKey } from 'node:crypto';
import { request } from 'node:https';
import { certIdOfPem } from '../crypto/certificates.js';
import { type GovMessageType, signCoseSign1 } from '../crypto/cose.js';

// A governance member's client (`tessera gov`): CCF's /gov API over mutual TLS with the member's
// certificate, every proposal and ballot signed as COSE Sign1 with the member's key.

const API = 'api-version=2024-07-01';

/** The ballot that always votes yes (CCF's standard ballot). */
export const ACCEPT_BALLOT = 'export function vote (rawProposal, proposerId) { return true; }';
export const REJECT_BALLOT = 'export function vote (rawProposal, proposerId) { return false; }';

export interface MemberOptions {
  /** The node, e.g. https://127.0.0.1:8000. */
  url: string;
  /** The member's certificate and key, and the node CA (PEM). */
  cert: string;
  key: string;
  ca: string;
}

export interface GovResponse {
  status: number;
  text: string;
  /** CCF's x-ms-ccf-transaction-id, on a write. */
  txId?: string;
}

export interface MemberClient {
  /** The member's id: the SHA-256 of its certificate. */
  id: string;
  call(method: string, path: string, body?: Buffer, contentType?: string): Promise<GovResponse>;
  /** A COSE Sign1 envelope over the payload, as the /gov endpoints take it. */
  sign(type: GovMessageType, payload: string, proposalId?: string): Buffer;
}

export function memberClient({ url, cert, key: keyPem, ca }: MemberOptions): MemberClient {
  const id = certIdOfPem(cert);
  const base = new URL(url);
  const call = (method: string, path: string, body?: Buffer, contentType = 'application/cose'): Promise<GovResponse> =>
    new Promise((done, fail) => {
      const url = new URL(`${path}${path.includes('?') ? '&' : '?'}${API}`, base);
      const req = request(url, { method, cert, key: keyPem, ca, servername: url.hostname === '127.0.0.1' ? 'localhost' : url.hostname, headers: body ? { 'content-type': contentType, 'content-length': body.length } : {} }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => done({ status: res.statusCode ?? 0, text, txId: res.headers['x-ms-ccf-transaction-id'] as string | undefined }));
      });
      req.on('error', fail);
      req.end(body);
    });
  const sign = (type: GovMessageType, payload: string, proposalId?: string) => signCoseSign1({ key: createPrivateKey(keyPem), kid: id, type, payload: Buffer.from(payload), proposalId });
  return { id, call, sign };
}
