import type { FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { TesseraError } from '../errors/index.js';
import { certIdOfDer } from '../crypto/certificates.js';
import type { Principal, PrincipalService } from '../identity/principals.js';
import { peerCertificateDer } from '../identity/tls.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** A connection's client certificate never changes (TLS 1.3 has no renegotiation): its id is hashed once. */
const certIds = new WeakMap<TLSSocket, string>();

/** The id of a connection's verified client certificate, or null if it has none. */
export function certIdOfSocket(socket: TLSSocket): string | null {
  if (!socket.authorized) return null;
  let certId = certIds.get(socket);
  if (certId === undefined) {
    const der = peerCertificateDer(socket);
    if (!der) return null;
    certId = certIdOfDer(der);
    certIds.set(socket, certId);
  }
  return certId;
}

/**
 * REST authentication: a client certificate of a current identity, and for a user also that user's
 * bearer token (`Authorization: Bearer <token>`). Runs in onRequest, before any body is read.
 */
export async function authenticateHttp(request: FastifyRequest, principals: PrincipalService): Promise<Principal> {
  const socket = request.raw.socket as TLSSocket;
  if (!socket.authorized) {
    throw new TesseraError('unauthenticated', "a client certificate issued by this node's CA is required");
  }
  const certId = certIdOfSocket(socket);
  if (!certId) throw new TesseraError('unauthenticated', "a client certificate issued by this node's CA is required");
  const principal = principals.byCertId(certId);
  if (!principal) throw new TesseraError('unauthenticated', `client certificate ${certId} belongs to no current identity`);
  if (principal.role === 'user') {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new TesseraError('unauthenticated', `'${principal.name}' must also send 'Authorization: Bearer <token>' with the token from its identity folder (DATA-identities/${principal.name}/token)`);
    await principals.authenticateUser(principal.name, match[1]);
  }
  return principal;
}

/** The authenticated principal of a request on a protected route. */
export function callerOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new TesseraError('unauthenticated', 'this route needs an authenticated caller');
  return request.principal;
}

/** The calling user; services and members are refused on user routes. */
export function userOf(request: FastifyRequest): string {
  const p = callerOf(request);
  if (p.role !== 'user') throw new TesseraError('permission_denied', `this route is for users; '${p.name}' is a ${p.role}`);
  return p.name;
}
