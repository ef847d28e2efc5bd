import type { FastifyInstance } from 'fastify';
import { checkApiVersion } from './gov.js';
import { openApiOf } from './node.js';

/** GET /v1/health: liveness, and the version the node runs. */
export function healthRoutes(app: FastifyInstance, version: string) {
  app.get('/v1/health', async () => ({ status: 'ok', version }));
}

/** CCF's /gov/api: with an api-version (checked as CCF does), that version's API; without one, the classic description. */
export function govApiRoutes(app: FastifyInstance, version: string) {
  app.get('/gov/api', { schema: { hide: true } }, async (request) => {
    if (new URL(request.url, 'https://node').searchParams.has('api-version')) checkApiVersion(request, ['2023-06-01-preview', '2024-07-01']);
    return openApiOf(app, '/gov/', version);
  });
}
