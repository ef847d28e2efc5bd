import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { swaggerOptions } from './openapi.js';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { TesseraError, asTesseraError } from '../errors/index.js';
import type { PrincipalService } from '../identity/principals.js';
import type { TLSSocket } from 'node:tls';
import type { InFlightLimit } from '../admission/in-flight.js';
import type { ConnectionAdmission } from '../admission/per-address.js';
import type { Socket } from 'node:net';
import type { RateLimiter } from '../admission/rate-limit.js';
import { type TlsMaterial, mutualTlsServerOptions } from '../identity/tls.js';
import { authenticateHttp, certIdOfSocket } from './auth.js';
import { metricsRoutes } from './routes/metrics.js';
import { httpMetrics } from './metrics.js';
import type { Registry } from 'prom-client';
import { recordRoutes } from './routes/node.js';
import { replyError } from './replies.js';

export interface HttpServerOptions {
  tls: TlsMaterial;
  maxBodyBytes: number;
  handshakeTimeoutMs: number;
  headersTimeoutMs: number;
  maxConnections: number;
  inFlight: InFlightLimit;
  rateLimiter: RateLimiter;
  logger: Logger;
  version: string;
  principals: PrincipalService;
  /** The node's Prometheus registry (GET /metrics); the listener adds its request metrics to it. */
  metrics: Registry;
  /** Connections one remote address may hold, counted before TLS. */
  admission: ConnectionAdmission;
  /** Requests from callers without a current identity: their own in-flight bound and deadline. */
  anonymous: { inFlight: InFlightLimit; requestTimeoutMs: number };
  /** Resolves once every commit so far is on disk (Store.durable). */
  durable: () => Promise<void>;
  /** Each capability's routes (src/node/capabilities/), added in this order after the listener's own. */
  routes: Array<(app: FastifyInstance) => Promise<void> | void>;
}

/**
 * Routes reachable without a node identity: liveness, the API descriptions (/v1/api and its Swagger UI at
 * /v1/docs: the API is not secret, and anonymous callers have their own in-flight bound and deadline,
 * below), the app (which applies its own policies, under /app and unprefixed as CCF routes it), and CCF's
 * frontends' endpoints that CCF registers with no_auth_required (the common /commit, /tx, /receipt, /api;
 * every /node endpoint; the /gov reads). /gov writes carry their own authentication, the member's COSE Sign1 signature, as in CCF
 * (src/node/gov/handlers/helpers.h: member_sig_only_policies), so they need no client certificate either.
 */
const PUBLIC_ROUTES = new Set(['/v1/health', '/v1/api', '/app/api', '/app/*', '/*', '/', '/app/commit', '/app/tx', '/app/receipt', '/commit', '/tx', '/receipt']);
const isPublic = (route: string) => PUBLIC_ROUTES.has(route) || route.startsWith('/node/') || route.startsWith('/gov/') || route === '/v1/docs' || route.startsWith('/v1/docs/') || route === '/console' || route.startsWith('/console/');

/**
 * The HTTPS API. Client certificates are requested on every connection; the caller is authenticated
 * in onRequest, before any body is read or parsed.
 */
export async function createHttpServer(opts: HttpServerOptions) {
  const app = Fastify({
    loggerInstance: opts.logger.child({ listener: 'https' }) as FastifyBaseLogger,
    bodyLimit: opts.maxBodyBytes,
    https: {
      ...mutualTlsServerOptions(opts.tls),
      handshakeTimeout: opts.handshakeTimeoutMs,
      headersTimeout: opts.headersTimeoutMs,
      // Node checks the headers timeout on this interval (30 s by default), so it bounds slowloris too.
      connectionsCheckingInterval: Math.min(1000, opts.headersTimeoutMs),
    } as object,
    // One line per request, with outcome and duration, comes from the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });

  await app.register(swagger, swaggerOptions(opts.version, isPublic));
  // Swagger UI, served without authentication like /v1/api: the description is public (docs/operations.md).
  await app.register(swaggerUi, { routePrefix: '/v1/docs', uiConfig: { docExpansion: 'list', deepLinking: true } });

  app.server.headersTimeout = opts.headersTimeoutMs;
  app.server.maxConnections = opts.maxConnections;
  app.server.on('connection', (socket: Socket) => opts.admission.admit(socket));
  app.server.on('secureConnection', (socket: TLSSocket) => opts.admission.secured(socket));

  // Admission comes first and costs nothing: past the in-flight bound a request is refused before its
  // caller is even looked up. Then who the caller is, then whether they are over their rate.
  // A caller without a current identity (no certificate, or one of no current principal: the public
  // routes only) has a budget of its own and a deadline for its whole request, body included, so that
  // anonymous traffic, however slow, cannot take the slots identified callers use.
  app.addHook('onRequest', async (request, reply) => {
    const certId = certIdOfSocket(request.raw.socket as TLSSocket);
    const known = certId ? opts.principals.byCertId(certId) : undefined;
    if (known) return void reply.raw.once('close', opts.inFlight.enter());
    // Armed first, so it also ends a refused request whose caller keeps sending a body nobody reads.
    const deadline = setTimeout(() => request.raw.socket.destroy(), opts.anonymous.requestTimeoutMs);
    deadline.unref();
    reply.raw.once('finish', () => {
      // Answered in time with the whole body read: the connection may live on as usual.
      if (request.raw.complete) clearTimeout(deadline);
    });
    reply.raw.once('close', opts.anonymous.inFlight.enter());
  });

  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    if (isPublic(request.routeOptions.url ?? '')) {
      // CCF apps authenticate per endpoint, later; a caller with a known certificate is still rate-limited.
      if (!opts.rateLimiter.enabled) return;
      const certId = certIdOfSocket(request.raw.socket as TLSSocket);
      const known = certId && opts.principals.byCertId(certId);
      if (known) opts.rateLimiter.take(known.name);
      return;
    }
    request.principal = await authenticateHttp(request, opts.principals);
    opts.rateLimiter.take(request.principal.name);
  });

  // Nothing is acknowledged before it is on disk: a reply waits for the fsync that covers every commit
  // made so far (its own, and any it may have read), shared with whatever else is in flight.
  app.addHook('onSend', async () => {
    await opts.durable();
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        caller: request.principal?.name,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 1000) / 1000,
      },
      'http request',
    );
  });

  httpMetrics(app, opts.metrics);

  app.setErrorHandler((err, request, reply) => {
    const raw = err as Error & { statusCode?: number; validation?: unknown };
    const e =
      raw instanceof TesseraError
        ? raw
        : raw.statusCode && raw.statusCode < 500
          ? new TesseraError(raw.statusCode === 413 ? 'too_large' : 'invalid_input', raw.message)
          : asTesseraError(raw);
    if (e.code === 'internal') request.log.error({ err: e.cause ?? err }, 'request failed');
    void replyError(reply, e, request.routeOptions.config?.exactJsonErrors === true);
  });

  app.setNotFoundHandler((request, reply) => {
    void replyError(reply, new TesseraError('not_found', `no route ${request.method} ${request.url}`));
  });

  recordRoutes(app);
  for (const add of opts.routes) await add(app);
  metricsRoutes(app, opts.metrics);
  app.get('/v1/api', async () => app.swagger());

  return app;
}
