import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { TesseraError } from '../../errors/index.js';
import { type FnResponse, type FnService, fnErrorResponse, headersFromRaw } from '../../functions/process/service.js';
import { callerOf, userOf } from '../auth.js';

/**
 * Fn's invocation surface (/invoke/{fn_id}, /t/{app}/{source}) and Tessera's registry: packages
 * (PUT /v1/fn/packages, the archive `tessera fn deploy` makes) and functions (/v1/fns).
 */
export async function fnRoutes(app: FastifyInstance, fns: FnService, limits: { maxPackageBytes: number; maxBodyBytes: number }) {
  app.get('/v1/fns', { schema: { tags: ['fn'], summary: 'Process functions, and how this node confines them' } }, async (request) => {
    return {
      // What the caller may call: their own functions and the consortium's; another user's are not listed.
      fns: fns.listFor(userOf(request)).map((f) => ({ id: f.id, owner: f.owner, app: f.app, name: f.name, version: f.version, package: f.package, runtime: f.func.runtime ?? null, memory: f.func.memory ?? 128, triggers: f.func.triggers ?? [] })),
      confinement: fns.confinement(),
    };
  });

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.maxPackageBytes }, (_req, body, done) => done(null, body));
    // Fastify's own 413 says only 'Request body is too large': this one names the limit and the setting.
    scope.setErrorHandler((err, _request, _reply) => {
      if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        throw new TesseraError('too_large', `the package is over this node's limit of ${limits.maxPackageBytes} bytes (fn.max_package_bytes)`);
      }
      throw err;
    });
    scope.put('/v1/fn/packages', {
      bodyLimit: limits.maxPackageBytes,
      schema: { tags: ['fn'], summary: 'Upload a function package (a canonical tar archive; tessera fn deploy makes one); answers its digest' },
      handler: async (request, reply) => {
        const caller = callerOf(request);
        if (caller.role !== 'user' && caller.role !== 'member') throw new TesseraError('permission_denied', `packages are uploaded by users and members; '${caller.name}' is a ${caller.role}`);
        if (!Buffer.isBuffer(request.body) || !request.body.length) throw new TesseraError('invalid_input', 'send the package archive as the request body (application/x-tar)');
        const p = await fns.upload(request.body, caller.role === 'user' ? caller.name : `member:${caller.certId}`, caller.role);
        return reply.status(201).send({ digest: p.digest, name: p.name, size: p.size });
      },
    });
  });

  app.post<{ Body: { package: string; app?: string } }>('/v1/fns', {
    schema: {
      tags: ['fn'],
      summary: "Deploy an uploaded package as one of the caller's own functions, where the operator allows direct deploys",
      body: { type: 'object', properties: { package: { type: 'string' }, app: { type: 'string' }, dir: { type: 'string' } } },
    },
    handler: async (request, reply) => {
      const user = userOf(request);
      fns.requireDirectDeploy();
      if (!request.body.package) {
        throw new TesseraError('invalid_input', (request.body as { dir?: string }).dir !== undefined ? 'a function is deployed as a package, not as a path on the node: tessera fn deploy DIR packs the directory and uploads it' : 'package is required: the digest PUT /v1/fn/packages answered');
      }
      const f = await fns.deploy(user, request.body.app ?? 'default', request.body.package);
      return reply.status(201).send({ id: f.id, app: f.app, name: f.name, version: f.version, package: f.package });
    },
  });

  app.delete<{ Params: { id: string } }>('/v1/fns/:id', { schema: { tags: ['fn'], summary: 'Remove one of your own functions' } }, async (request) => {
    const f = await fns.remove(userOf(request), request.params.id);
    return { id: f.id, app: f.app, name: f.name, removed: true };
  });

  const send = (reply: FastifyReply, r: FnResponse) => {
    reply.status(r.status);
    for (const [k, vs] of Object.entries(r.headers)) reply.header(k, vs.length === 1 ? vs[0] : vs);
    return reply.send(r.body);
  };

  // Fn passes a body on every method, GET included; Fastify parses none for GET, so it is read here.
  const bodyOf = async (request: FastifyRequest): Promise<Buffer> => {
    if (Buffer.isBuffer(request.body)) return request.body;
    return readBody(request.raw, limits.maxBodyBytes);
  };

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post<{ Params: { id: string } }>('/invoke/:id', { schema: { hide: true } }, async (request, reply) => {
      return send(reply, await fns.invoke(request.params.id, userOf(request), headersFromRaw(request.raw.rawHeaders), await bodyOf(request)));
    });
    // Fn's router answers a wrong method on /invoke with 405 and its own message.
    scope.route<{ Params: { id: string } }>({
      method: ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url: '/invoke/:id',
      schema: { hide: true },
      handler: async (request, reply) => {
        userOf(request);
        return send(reply, fnErrorResponse(405, `Method not allowed: ${request.method} ${request.url.split('?')[0]}`));
      },
    });
    const trigger = async (request: FastifyRequest<{ Params: { app: string; '*'?: string } }>, reply: FastifyReply) => {
      const user = userOf(request);
      const url = `https://${request.headers.host}${request.url}`;
      const source = `/${(request.params['*'] ?? '').split('?')[0]}`;
      return send(reply, await fns.trigger(request.params.app, user, source, request.method, url, headersFromRaw(request.raw.rawHeaders), await bodyOf(request)));
    };
    scope.all<{ Params: { app: string } }>('/t/:app', { schema: { hide: true } }, trigger);
    scope.all<{ Params: { app: string; '*': string } }>('/t/:app/*', { schema: { hide: true } }, trigger);
  });
}

function readBody(raw: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (raw.readableEnded) return resolve(Buffer.alloc(0));
    const chunks: Buffer[] = [];
    let size = 0;
    raw.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        raw.destroy();
        reject(new TesseraError('too_large', `the request body is over ${limit} bytes`));
      } else chunks.push(c);
    });
    raw.on('end', () => resolve(Buffer.concat(chunks)));
    raw.on('error', reject);
  });
}
