import { constants } from 'node:crypto';
import type { TLSSocket, TlsOptions } from 'node:tls';

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  caPem: string;
}

/**
 * Server options shared by every listener: the node's identity, client certificates requested and
 * verified against the node CA. The handshake is not aborted for a missing or foreign certificate
 * (`rejectUnauthorized: false`) so that each listener can answer with an error its clients can read;
 * each checks `socket.authorized` before it reads any request.
 */
export const mutualTlsServerOptions = (material: TlsMaterial): TlsOptions => ({
  cert: material.certPem,
  key: material.keyPem,
  ca: [material.caPem],
  requestCert: true,
  rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
  // No TLS 1.2 renegotiation: a connection keeps the certificate it was opened with, which is what
  // lets the listeners read it once per connection (and closes renegotiation's old attack surface).
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
});

/** The parts of the TLS configuration that change when the certificate is re-issued. */
export const secureContextOptions = (material: TlsMaterial) => ({
  cert: material.certPem,
  key: material.keyPem,
  ca: [material.caPem],
  minVersion: 'TLSv1.2' as const,
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
});

const peers = new WeakMap<TLSSocket, Buffer | null>();

/**
 * The DER of the client certificate a connection presented, or null. Read once per connection:
 * building the peer certificate object costs more than the rest of a small request's authentication,
 * and with renegotiation off it cannot change while the connection lives.
 */
export function peerCertificateDer(socket: TLSSocket): Buffer | null {
  let der = peers.get(socket);
  if (der === undefined) {
    const raw = socket.getPeerCertificate?.()?.raw;
    der = raw && raw.length ? raw : null;
    peers.set(socket, der);
  }
  return der;
}
