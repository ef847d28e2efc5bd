import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { evidenceOf } from '../attestation/verify.js';
import { TesseraError } from '../errors/index.js';
import { type Receipt, verifyReceipt } from '../store/receipt.js';

// What anyone may read from a node without an identity, trusting only its CA: CCF's /node and /gov reads,
// /v1/health and the ledger's receipts (`tessera status`, `tessera ledger receipt`). Nothing here needs a
// certificate or token, so an operator can ask whether the node is up before holding any credential.

export interface PublicNode {
  url: string;
  /** The node CA (PEM): the service certificate, which also endorses receipts. */
  ca: string;
}

export interface PublicAnswer {
  status: number;
  text: string;
}

const servername = (url: URL) => (url.hostname === '127.0.0.1' ? 'localhost' : url.hostname);

const unreachable = (url: URL, err: Error & { code?: string }) =>
  /CERT|SIGNATURE|ISSUER|self.signed/i.test(err.code ?? err.message)
    ? new TesseraError('permission_denied', `the node at ${url.host} has a certificate the CA you gave did not issue (${err.code ?? err.message}): check --ca`)
    : new TesseraError('unavailable', `cannot reach the node at ${url.host}: ${err.message}`);

/** One anonymous GET; rejects only when the node cannot be reached (any HTTP status resolves). */
export function publicGet(node: PublicNode, path: string): Promise<PublicAnswer> {
  const base = new URL(node.url);
  if (base.protocol !== 'https:') return Promise.reject(new TesseraError('invalid_input', `the node URL must be https, not ${base.protocol}`));
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { ca: node.ca, servername: servername(base), timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err) => reject(unreachable(base, err)));
    req.end();
  });
}

/** A JSON read that must answer 200; anything else is one TesseraError naming the path and the node's message. */
export async function publicJson<T>(node: PublicNode, path: string): Promise<T> {
  const r = await publicGet(node, path);
  if (r.status !== 200) {
    let message = r.text.trim();
    try {
      const e = JSON.parse(r.text).error;
      if (e?.message) message = `${e.code}: ${e.message}`;
    } catch {
      /* keep the text */
    }
    throw new TesseraError(r.status === 404 ? 'not_found' : 'unavailable', `GET ${path.split('?')[0]} answered ${r.status}: ${message || '(no body)'}`);
  }
  return JSON.parse(r.text) as T;
}

/** The node's attestation evidence, read from the certificate it presents (where the evidence is bound). */
export function presentedEvidence(node: PublicNode): Promise<{ provider: string; timestamp: string; mr_enclave: string; mr_signer: string }> {
  const url = new URL(node.url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: url.hostname, port: Number(url.port || 443), ca: node.ca, servername: servername(url) }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      try {
        const e = evidenceOf(cert.raw);
        resolve({ provider: e.provider, timestamp: e.timestamp, mr_enclave: e.mr_enclave, mr_signer: e.mr_signer });
      } catch (err) {
        reject(new TesseraError('permission_denied', `the node's certificate carries no readable attestation evidence: ${(err as Error).message}`));
      }
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('no TLS handshake within 10 s')));
    socket.on('error', (err) => reject(unreachable(url, err)));
  });
}

export type ReceiptVerdict = { ok: true; root: string; leaf: string } | { ok: false; reason: string };

/**
 * The receipt of transaction `txId` (CCF's GET /app/receipt?transaction_id=…), checked offline against
 * `serviceCertPem`. A transaction not yet signed is retried (CCF answers 202 while it fetches or signs)
 * until `waitMs` has passed.
 */
export async function fetchReceipt(node: PublicNode, txId: string, opts: { waitMs?: number } = {}): Promise<Receipt> {
  if (!/^\d+\.\d+$/.test(txId)) throw new TesseraError('invalid_input', `'${txId}' is not a transaction id: it looks like VIEW.SEQNO, e.g. 2.15 (the x-ms-ccf-transaction-id a write answered)`);
  const deadline = Date.now() + (opts.waitMs ?? 5000);
  for (;;) {
    const r = await publicGet(node, `/app/receipt?transaction_id=${txId}`);
    if (r.status === 200) return JSON.parse(r.text) as Receipt;
    let code = '';
    let message = r.text.trim();
    try {
      const e = JSON.parse(r.text).error;
      code = e?.code ?? '';
      message = e?.message ?? message;
    } catch {
      /* not JSON */
    }
    // 202: committed but not yet signed; a Pending transaction will commit. Both are worth a short wait;
    // an Unknown or Invalid one is not.
    const pending = r.status === 202 || (code === 'TransactionPendingOrUnknown' && / is Pending\b/.test(message));
    if (pending && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 250));
      continue;
    }
    if (pending) throw new TesseraError('timeout', `no receipt for ${txId} yet: the node has not signed it (${message || r.status}); try again in a moment`);
    throw new TesseraError(r.status === 404 ? 'not_found' : 'invalid_input', `no receipt for ${txId}: ${code ? `${code}: ` : ''}${message || r.status}`);
  }
}

/** verifyReceipt as a verdict rather than an exception, for a command that prints it. */
export function receiptVerdict(receipt: Receipt, serviceCertPem: string): ReceiptVerdict {
  try {
    return { ok: true, ...verifyReceipt(receipt, serviceCertPem) };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}
