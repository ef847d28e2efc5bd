import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { TesseraError } from '../../errors/index.js';
import { callerOf } from '../auth.js';

/**
 * GET /metrics: the node's Prometheus metrics (text format 0.0.4; docs/operations.md lists them), with
 * EDGELESS's workflow metrics under their own names and labels (edgeless_telemetry/src/prometheus_target.rs).
 * They cover every tenant, so only the operator's identities (members, and the node's own service
 * identity) may scrape them; a user is refused.
 */
export function metricsRoutes(app: FastifyInstance, registry: Registry) {
  app.get('/metrics', { schema: { summary: "The node's Prometheus metrics (members and the node's service identity)", tags: ['operations'], security: [{ clientCertificate: [] }] } }, async (request, reply) => {
    const caller = callerOf(request);
    if (caller.role === 'user') throw new TesseraError('permission_denied', `/metrics covers every tenant's workflows: members and the node's service identity may read it, not the user '${caller.name}'`);
    return reply.header('content-type', registry.contentType).send(await registry.metrics());
  });
}
