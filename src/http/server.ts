import Fastify, { LogController } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { TesseraError, asTesseraError } from '../errors/index.js';
import { type TlsMaterial, mutualTlsServerOptions } from '../identity/tls.js';

export interface HttpServerOptions {
  tls: TlsMaterial;
  maxBodyBytes: number;
  logger: Logger;
  version: string;
}

/** Routes reachable without a client certificate: liveness only. */
const PUBLIC_ROUTES = new Set(['/v1/health']);

/**
 * The HTTPS API. Client certificates are requested on every connection and checked before any
 * body is parsed; domain routes are registered by later capabilities.
 */
export function createHttpServer(opts: HttpServerOptions) {
  const app = Fastify({
    loggerInstance: opts.logger.child({ listener: 'https' }),
    bodyLimit: opts.maxBodyBytes,
    https: mutualTlsServerOptions(opts.tls),
    // One line per request, with outcome and duration, comes from the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
  });

  app.addHook('onRequest', async (request) => {
    if (PUBLIC_ROUTES.has(request.routeOptions.url ?? '')) return;
    const socket = request.raw.socket as TLSSocket;
    if (!socket.authorized) {
      throw new TesseraError('unauthenticated', "a client certificate issued by this node's CA is required");
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 1000) / 1000 },
      'http request',
    );
  });

  app.setErrorHandler((err, request, reply) => {
    const raw = err as Error & { statusCode?: number };
    const e =
      raw instanceof TesseraError
        ? raw
        : raw.statusCode && raw.statusCode < 500
          ? new TesseraError(raw.statusCode === 413 ? 'too_large' : 'invalid_input', raw.message)
          : asTesseraError(raw);
    if (e.code === 'internal') request.log.error({ err: e.cause ?? err }, 'request failed');
    void reply.status(e.httpStatus).send({ error: { code: e.ccfCode, message: e.message } });
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'ResourceNotFound', message: `no route ${request.method} ${request.url}` } });
  });

  app.get('/v1/health', async () => ({ status: 'ok', version: opts.version }));

  return app;
}
