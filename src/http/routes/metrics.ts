import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../../errors/index.js';
import { callerOf } from '../auth.js';

/**
 * GET /metrics: the node's Prometheus metrics (text format 0.0.4), EDGELESS's names and labels
 * (edgeless_telemetry/src/prometheus_target.rs). They cover every tenant's instances, so only the
 * operator's identities (members, and the node's own service identity) may scrape them; a user is refused.
 */
export function metricsRoutes(app: FastifyInstance, render: () => string) {
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    const caller = callerOf(request);
    if (caller.role === 'user') throw new TesseraError('permission_denied', `/metrics covers every tenant's workflows: members and the node's service identity may read it, not the user '${caller.name}'`);
    return reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(render());
  });
}
