import type { TlsOptions } from 'node:tls';

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
});

/** The parts of the TLS configuration that change when the certificate is re-issued. */
export const secureContextOptions = (material: TlsMaterial) => ({
  cert: material.certPem,
  key: material.keyPem,
  ca: [material.caPem],
  minVersion: 'TLSv1.2' as const,
});
