import { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { TesseraError, asTesseraError } from '../errors/index.js';
import { certIdOfDer } from '../crypto/certificates.js';
import type { Principal, PrincipalService } from '../identity/principals.js';
import { type TlsMaterial, mutualTlsServerOptions, peerCertificateDer, secureContextOptions } from '../identity/tls.js';
import { FrameReader, type FrameLimits, encodeFrame } from './framing.js';
import type { MessageHandler } from './dispatch.js';
import type { RateLimiter } from '../admission/rate-limit.js';
import type { ConnectionAdmission } from '../admission/per-address.js';

export type Audience = 'user' | 'service';

/** The accept queue asked of the kernel for every listener (Node's default is 511). */
export const LISTEN_BACKLOG = 4096;

export interface WireListenerOptions {
  name: string;
  host: string;
  port: number;
  audience: Audience;
  tls: TlsMaterial;
  limits: FrameLimits;
  maxConnections: number;
  principals: PrincipalService;
  handler: MessageHandler;
  logger: Logger;
  /** Resolves once every commit so far is on disk (Store.durable): replies wait for it. */
  durable: () => Promise<void>;
  /** Per-identity request rate, shared with the HTTPS listener. */
  rateLimiter: RateLimiter;
  handshakeTimeoutMs: number;
  /** Who may hold connections before TLS: per address, and a shared budget for handshakes. */
  admission: ConnectionAdmission;
}

export const errorReply = (err: TesseraError) => ({ type: 'Error', kind: err.mesateeKind, message: err.message });

// Errors after which the byte stream cannot be trusted to be at a frame boundary.
const FATAL_CODES = new Set(['too_large', 'parse_error', 'timeout']);

/**
 * One MesaTEE listener: mutual TLS with client certificates from the node CA, then a loop of
 * request/reply rounds. Who the caller is gets settled from the certificate before any frame
 * is read, and again before each request, so a removed identity is refused on open
 * connections too.
 */
export class WireListener {
  private readonly server: tls.Server;
  private readonly connections = new Map<tls.TLSSocket, { busy: boolean }>();
  private closing = false;
  /** Requests answered, by outcome, for the node's metrics (the message type is the client's to choose, so not a label). */
  readonly stats = { ok: 0, error: 0 };

  get name(): string {
    return this.opts.name;
  }

  constructor(private readonly opts: WireListenerOptions) {
    this.server = tls.createServer(
      // Not half-open until the handshake is done: a client that ends its side before that is closed at once
      // instead of holding its slot until the handshake timeout (serve() allows it after).
      { ...mutualTlsServerOptions(opts.tls), allowHalfOpen: false, handshakeTimeout: opts.handshakeTimeoutMs },
      (socket) => void this.serve(socket),
    );
    this.server.maxConnections = opts.maxConnections;
    this.server.on('connection', (socket) => opts.admission.admit(socket));
    this.server.on('secureConnection', (socket) => opts.admission.secured(socket));
    // A failed or timed-out handshake only reports here; without the destroy, a client that never
    // speaks would hold its connection (and a slot of max_connections) for ever.
    this.server.on('tlsClientError', (err, socket) => {
      opts.logger.debug({ listener: opts.name, err: err.message }, 'TLS handshake failed');
      socket.destroy();
    });
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      // A long accept queue (the kernel caps it at net.core.somaxconn): under a flood of connections the
      // node closes, a user's new one waits in the queue instead of being dropped and resent a second later.
      this.server.listen({ port: this.opts.port, host: this.opts.host, backlog: LISTEN_BACKLOG }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Swaps in a re-issued certificate; open connections keep the one they started with. */
  updateTls(material: TlsMaterial) {
    this.server.setSecureContext(secureContextOptions(material));
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** Stops accepting, lets in-flight requests finish within `graceMs`, then cuts what is left. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const [socket, state] of this.connections) if (!state.busy) socket.end();
    const deadline = setTimeout(() => {
      for (const socket of this.connections.keys()) socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(deadline);
  }

  /** The connection's certificate id: fixed for the connection's life, so worked out once. */
  private certificateOf(socket: tls.TLSSocket): string {
    if (!socket.authorized) {
      const why = socket.authorizationError ? ` (${socket.authorizationError})` : '';
      throw new TesseraError(
        'unauthenticated',
        `a client certificate issued by this node's CA is required${why}; use the cert.pem and key.pem from 'tessera user add'`,
      );
    }
    const der = peerCertificateDer(socket);
    if (!der) throw new TesseraError('unauthenticated', "a client certificate issued by this node's CA is required; use the cert.pem and key.pem from 'tessera user add'");
    return certIdOfDer(der);
  }

  private authenticate(certId: string): Principal {
    const principal = this.opts.principals.byCertId(certId);
    if (!principal) {
      throw new TesseraError('unauthenticated', `client certificate ${certId} belongs to no current identity (it may have been removed)`);
    }
    if (this.opts.audience === 'service' && principal.role !== 'service') {
      throw new TesseraError('permission_denied', `the ${this.opts.name} listener is for services only; '${principal.name}' is a ${principal.role}`);
    }
    if (this.opts.audience === 'user' && principal.role === 'member') {
      throw new TesseraError('permission_denied', `the ${this.opts.name} listener is for users; '${principal.name}' is a member`);
    }
    return principal;
  }

  private async serve(socket: tls.TLSSocket) {
    const { logger, name } = this.opts;
    // Half-open from here: a client that ends its side mid-frame still hears why its request was refused.
    socket.allowHalfOpen = true;
    const state = { busy: false };
    this.connections.set(socket, state);
    socket.on('error', (err) => logger.debug({ listener: name, err: err.message }, 'connection error'));
    socket.once('close', () => this.connections.delete(socket));
    const reader = new FrameReader(socket, this.opts.limits);
    try {
      const certId = this.certificateOf(socket);
      let caller = this.authenticate(certId);
      for (;;) {
        if (this.closing) break;
        const frame = await reader.next();
        if (frame === null) break;
        state.busy = true;
        // Re-checked per request: an identity removed while connected is cut off here.
        caller = this.authenticate(certId);
        const started = process.hrtime.bigint();
        let type: unknown;
        let reply: unknown;
        try {
          // A caller over its rate is refused before its frame is even parsed.
          this.opts.rateLimiter.take(caller.name);
          let message: unknown;
          try {
            message = JSON.parse(frame.toString('utf8'));
          } catch (err) {
            throw new TesseraError('parse_error', `the frame is not valid JSON: ${(err as Error).message}`);
          }
          type = (message as { type?: unknown } | null)?.type;
          reply = await this.opts.handler(message, caller);
          await this.opts.durable();
          this.log(started, { type, caller: caller.name });
        } catch (err) {
          const e = asTesseraError(err);
          reply = errorReply(e);
          // A whole frame was consumed, so the stream is still in sync and the connection stays usable.
          this.log(started, { type, caller: caller.name, err: e });
        }
        await write(socket, encodeFrame(reply));
        state.busy = false;
      }
      socket.end();
    } catch (err) {
      const e = asTesseraError(err);
      if (!FATAL_CODES.has(e.code) && e.code !== 'unauthenticated' && e.code !== 'permission_denied') {
        logger.error({ listener: name, err }, 'connection failed');
      } else {
        logger.info({ listener: name, outcome: 'closed', kind: e.mesateeKind, reason: e.message }, 'wire connection refused');
      }
      if (!socket.destroyed) {
        socket.end(encodeFrame(errorReply(e)));
        setTimeout(() => socket.destroy(), 1000).unref();
      }
    } finally {
      reader.dispose();
    }
  }

  private log(started: bigint, fields: { type: unknown; caller: string; err?: TesseraError }) {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    this.stats[fields.err ? 'error' : 'ok']++;
    const type = typeof fields.type === 'string' ? fields.type : undefined;
    if (fields.err) {
      const level = fields.err.code === 'internal' ? 'error' : 'info';
      this.opts.logger[level](
        { listener: this.opts.name, type, caller: fields.caller, outcome: 'error', kind: fields.err.mesateeKind, ms, err: fields.err.code === 'internal' ? fields.err.cause : undefined, reason: fields.err.message },
        'wire request',
      );
    } else {
      this.opts.logger.info({ listener: this.opts.name, type, caller: fields.caller, outcome: 'ok', ms }, 'wire request');
    }
  }
}

function write(socket: tls.TLSSocket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
}
