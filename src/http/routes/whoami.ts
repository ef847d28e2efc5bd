import type { FastifyInstance } from 'fastify';
import { callerOf } from '../auth.js';

/**
 * GET /v1/whoami: who the node takes the caller to be, once authenticated (certificate, and a user's
 * bearer token). The console signs in with it; a CLI user can check which identity a context holds.
 */
export function whoamiRoutes(app: FastifyInstance) {
  app.get('/v1/whoami', {
    schema: {
      tags: ['identity'],
      summary: 'The authenticated caller: name, role and certificate id',
      response: { 200: { type: 'object', properties: { name: { type: 'string' }, role: { type: 'string' }, cert_id: { type: 'string' } } } },
    },
    handler: async (request) => {
      const p = callerOf(request);
      return { name: p.name, role: p.role, cert_id: p.certId };
    },
  });
}
