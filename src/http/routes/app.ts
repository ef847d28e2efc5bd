import type { FastifyInstance } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { AppService } from '../../apps/service.js';
import { peerCertificateDer } from '../../identity/tls.js';

/**
 * The deployed CCF app under /app. Authentication here is the endpoint's own policies (which may be
 * no_auth), so these routes skip the node-wide certificate check; bodies are passed through raw.
 */
export async function appRoutes(app: FastifyInstance, apps: AppService) {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    scope.get('/app/api', { schema: { hide: true } }, async () => apps.openApi());

    scope.all('/app/*', { schema: { hide: true } }, async (request, reply) => {
      const url = new URL(request.url, 'https://node');
      const socket = request.raw.socket as TLSSocket;
      const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(', ') : String(v ?? '')]));
      const result = await apps.handle({
        method: request.method,
        path: url.pathname.slice('/app'.length) || '/',
        query: url.search.slice(1),
        hostname: request.headers.host ?? null,
        headers,
        body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
        peerCert: peerCertificateDer(socket),
      });
      reply.status(result.status).headers(result.headers);
      return reply.send(result.body ?? undefined);
    });
  });
}
