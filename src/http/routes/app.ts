import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../errors/index.js';
import type { TLSSocket } from 'node:tls';
import type { AppService } from '../../apps/service.js';
import { peerCertificateDer } from '../../identity/tls.js';
import { replyError, replyHistoricalPending } from '../replies.js';

/** Tessera's own route prefixes: a path under one that no route takes is Tessera's 404, not the app's. */
const TESSERA_PREFIXES = ['/v1/', '/invoke/', '/t/', '/ingress/', '/gov/', '/node/'];

/**
 * The deployed CCF app under /app. Authentication here is the endpoint's own policies (which may be
 * no_auth), so these routes skip the node-wide certificate check; bodies are passed through raw.
 */
export async function appRoutes(app: FastifyInstance, apps: AppService) {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    scope.get('/app/api', { schema: { hide: true } }, async () => apps.openApi());

    const serve = (prefix: string) => async (request: FastifyRequest, reply: FastifyReply) => {
      const url = new URL(request.url, 'https://node');
      if (prefix === '' && TESSERA_PREFIXES.some((p) => url.pathname.startsWith(p))) {
        // Tessera's own 404, sent as Tessera's routes send errors (not as the app frontend's).
        return replyError(reply, new TesseraError('not_found', `no route ${request.method} ${url.pathname}`));
      }
      const socket = request.raw.socket as TLSSocket;
      const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(', ') : String(v ?? '')]));
      const outcome = await apps.handle({
        method: request.method,
        path: url.pathname.slice(prefix.length) || '/',
        query: url.search.slice(1),
        hostname: request.headers.host ?? null,
        headers,
        body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
        peerCert: peerCertificateDer(socket),
      });
      switch (outcome.kind) {
        case 'options':
          return reply.status(204).header('allow', outcome.allow.join(', ')).send();
        case 'historical_pending':
          return replyHistoricalPending(reply, outcome.transactionId);
        case 'response': {
          // The handler's response as it gave it; CCF adds the transaction id, and the handler's own headers win.
          const headers: Record<string, string> = { 'x-ms-ccf-transaction-id': outcome.transactionId };
          if (outcome.contentType) headers['content-type'] = outcome.contentType;
          Object.assign(headers, outcome.headers);
          reply.status(outcome.status).headers(headers);
          return reply.send(outcome.body ?? undefined);
        }
      }
    };
    // Errors (thrown by AppService) are sent by the server's error handler, as application/json like CCF's frontends.
    const route = { schema: { hide: true }, config: { exactJsonErrors: true } };
    scope.all('/app/*', route, serve('/app'));
    // CCF gives a path whose first segment names no frontend (gov, app, node) to the app's frontend
    // unchanged (src/http/http_rpc_context.h, extract_actor and fetch_rpc_handler): an endpoint `/log`
    // answers at /app/log and at /log, and GET / is the app's `/` (404 `Unknown path: /.` without one).
    scope.all('/*', route, serve(''));
    scope.all('/', route, serve(''));
  });
}
