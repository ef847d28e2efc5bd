import type { FastifyInstance, FastifyReply } from 'fastify';
import { TesseraError } from '../../errors/index.js';
import type { FnResponse } from '../../sandbox/process/hot-process.js';
import type { FnService } from '../../sandbox/process/service.js';
import { userOf } from '../auth.js';

/** Fn's invocation surface (/invoke/{fn_id}, /t/{app}/{path}) and Tessera's registry (/v1/fns). */
export async function fnRoutes(app: FastifyInstance, fns: FnService, allowDirectDeploy: boolean) {
  app.get('/v1/fns', { schema: { tags: ['fn'], summary: 'Process functions' } }, async (request) => {
    userOf(request);
    return { fns: fns.list().map((f) => ({ id: f.id, app: f.app, name: f.name, runtime: f.func.runtime ?? null, triggers: f.func.triggers ?? [] })) };
  });
  app.post<{ Body: { dir: string; app?: string } }>('/v1/fns', {
    schema: { tags: ['fn'], summary: 'Register a function directory (func.yaml) directly, where the operator allows it', body: { type: 'object', required: ['dir'], properties: { dir: { type: 'string' }, app: { type: 'string' } } } },
    handler: async (request, reply) => {
      userOf(request);
      if (!allowDirectDeploy) {
        throw new TesseraError('permission_denied', 'this node registers process functions only through governance: propose set_node_function with kind "process" (tessera fn deploy DIR --propose), or set fn.allow_direct_deploy');
      }
      const f = fns.deploy(request.body.dir, request.body.app ?? 'default');
      return reply.status(201).send({ id: f.id, app: f.app, name: f.name });
    },
  });

  const send = (reply: FastifyReply, r: FnResponse) => reply.status(r.status).headers(r.headers).send(r.body);
  const headersOf = (h: Record<string, string | string[] | undefined>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(', ') : String(v ?? '')]));

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post<{ Params: { id: string } }>('/invoke/:id', { schema: { hide: true } }, async (request, reply) => {
      userOf(request);
      return send(reply, await fns.invoke(request.params.id, headersOf(request.headers), Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)));
    });
    scope.all<{ Params: { app: string; '*': string } }>('/t/:app/*', { schema: { hide: true } }, async (request, reply) => {
      userOf(request);
      const url = `https://${request.headers.host}${request.url}`;
      return send(reply, await fns.trigger(request.params.app, `/${request.params['*'].split('?')[0]}`, request.method, url, headersOf(request.headers), Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)));
    });
  });
}
