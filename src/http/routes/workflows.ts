import type { FastifyInstance } from 'fastify';
import type { WorkflowService } from '../../workflows/service.js';
import { userOf } from '../auth.js';

/** /v1/workflows (start, list, inspect, stop) and /ingress/* (the http-ingress resource). */
export async function workflowRoutes(app: FastifyInstance, workflows: WorkflowService) {
  app.post<{ Body: { name?: string; spec: unknown } }>('/v1/workflows', {
    schema: {
      tags: ['workflows'],
      summary: 'Start a workflow from EDGELESS JSON (code inline as base64 in class_specification.binary); returns its id',
      body: { type: 'object', required: ['spec'], properties: { name: { type: 'string' }, spec: { type: 'object' } } },
    },
    handler: async (request, reply) => {
      const record = await workflows.start(userOf(request), request.body);
      return reply.status(201).send({ workflow_id: record.id, name: record.name });
    },
  });
  app.get('/v1/workflows', { schema: { tags: ['workflows'], summary: 'Your running workflows' } }, async (request) => {
    const user = userOf(request);
    return { workflows: workflows.list().filter((w) => w.owner === user).map((w) => ({ workflow_id: w.id, name: w.name, owner: w.owner, started_at: w.started_at })) };
  });
  app.get('/v1/workflow-node', { schema: { tags: ['workflows'], summary: 'This node as placement annotations see it: node_id (for node_id_match_any), labels, resource_providers, attestation_provider, tee, tpm, runtimes' } }, async (request) => {
    userOf(request); // users only, as every workflow route
    return workflows.nodeInfo();
  });
  app.get<{ Params: { id: string } }>('/v1/workflows/:id', { schema: { tags: ['workflows'], summary: 'A workflow’s instances and resources (yours only)' } }, async (request) =>
    workflows.inspect(request.params.id, userOf(request)),
  );
  app.delete<{ Params: { id: string } }>('/v1/workflows/:id', { schema: { tags: ['workflows'], summary: 'Stop a workflow you started (its synced state is kept)' } }, async (request) => {
    const record = await workflows.stop(request.params.id, userOf(request));
    return { workflow_id: record.id, name: record.name, stopped: true };
  });

  app.get<{ Params: { name: string; '*': string } }>('/v1/workflow-files/:name/*', {
    schema: { tags: ['workflows'], summary: "A file a file-log resource of your workflow (by name, running or stopped) wrote, opened: { name, file, content }" },
    handler: async (request) => ({ name: request.params.name, file: request.params['*'], content: await workflows.readFileLog(userOf(request), request.params.name, request.params['*']) }),
  });

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.all('/ingress/*', { schema: { hide: true } }, async (request, reply) => {
      const url = new URL(request.url, 'https://node');
      const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v ?? '')]));
      const result = await workflows.handleIngress({
        method: request.method,
        host: request.headers.host ?? '',
        path: url.pathname.slice('/ingress'.length) + url.search,
        headers,
        body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
      });
      return reply.status(result.status).headers(result.headers).send(result.body);
    });
  });
}
