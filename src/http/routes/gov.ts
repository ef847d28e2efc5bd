import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../errors/index.js';
import { decodeCoseSign1 } from '../../crypto/cose.js';
import type { GovernanceService } from '../../governance/service.js';
import { txIdOf } from '../../store/ledger.js';

const API_VERSIONS = new Set(['2024-07-01', '2023-06-01-preview']);

const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()).replace(/^openapi$/, 'openApi');

/** CCF's /gov API: signed (COSE Sign1) proposals, ballots, withdrawals and acks, and read-only views. */
export function govRoutes(app: FastifyInstance, gov: GovernanceService, lastCommitted: () => number) {
  app.addContentTypeParser('application/cose', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('preHandler', async (request) => {
    if (!request.url.startsWith('/gov/')) return;
    const version = (request.query as { 'api-version'?: string })['api-version'];
    if (!version) throw new TesseraError('invalid_input', 'every /gov call needs ?api-version=2024-07-01', { ccf: 'MissingApiVersionParameter' });
    if (!API_VERSIONS.has(version)) throw new TesseraError('invalid_input', `api-version ${version} is not supported; use 2024-07-01`, { ccf: 'UnsupportedApiVersionValue' });
  });

  const committed = (reply: FastifyReply, seqno: number | null) => reply.header('x-ms-ccf-transaction-id', txIdOf(seqno ?? lastCommitted()));

  const envelope = (request: FastifyRequest) => {
    if (!Buffer.isBuffer(request.body)) throw new TesseraError('invalid_input', 'the body must be a COSE Sign1 envelope with content-type application/cose');
    return decodeCoseSign1(request.body);
  };

  app.post('/gov/members/*', { schema: { hide: true } }, async (request, reply) => {
    const path = new URL(request.url, 'https://x').pathname;
    let m: RegExpExecArray | null;
    if (path === '/gov/members/proposals:create') {
      const { result, seqno } = await gov.propose(envelope(request));
      return committed(reply, seqno).send(result);
    }
    if ((m = /^\/gov\/members\/proposals\/([0-9a-f]+)\/ballots\/([0-9a-f]+):submit$/.exec(path))) {
      const { result, seqno } = await gov.ballot(envelope(request), m[1], m[2]);
      return committed(reply, seqno).send(result);
    }
    if ((m = /^\/gov\/members\/proposals\/([0-9a-f]+):withdraw$/.exec(path))) {
      const { result, seqno } = await gov.withdraw(envelope(request), m[1]);
      // CCF answers 204 for a proposal it does not know: withdrawal is idempotent.
      return result === null ? committed(reply, seqno).status(204).send() : committed(reply, seqno).send(result);
    }
    if ((m = /^\/gov\/members\/state-digests\/([0-9a-f]+):ack$/.exec(path))) {
      const { result, seqno } = await gov.ack(envelope(request), m[1]);
      return committed(reply, seqno).send(result);
    }
    throw new TesseraError('not_found', `no governance operation at POST ${path}`);
  });

  app.get('/gov/members/proposals', async () => ({ value: gov.listProposals() }));
  app.get<{ Params: { id: string } }>('/gov/members/proposals/:id', async (request) => gov.getProposal(request.params.id));
  app.get<{ Params: { id: string } }>('/gov/members/proposals/:id/actions', async (request) => gov.getProposalActions(request.params.id));
  app.get<{ Params: { id: string; member: string } }>('/gov/members/proposals/:id/ballots/:member', async (request, reply) =>
    reply.type('text/javascript').send(gov.getBallot(request.params.id, request.params.member)),
  );
  app.get('/gov/service/javascript-modules', async () => ({ value: gov.modules().map((moduleName) => ({ moduleName })) }));
  app.get<{ Params: { name: string } }>('/gov/service/javascript-modules/:name', async (request, reply) => {
    const source = gov.module(decodeURIComponent(request.params.name));
    if (source === undefined) throw new TesseraError('not_found', `no module ${request.params.name}`);
    return reply.type('text/javascript').send(source);
  });
  app.get<{ Querystring: { case?: string } }>('/gov/service/javascript-app', async (request) => {
    const original = request.query.case === 'original';
    const endpoints: Record<string, Record<string, unknown>> = {};
    for (const [key, info] of gov.endpoints()) {
      const [method, ...url] = key.split(' ');
      const shaped = original ? info : Object.fromEntries(Object.entries(info).map(([k, v]) => [camel(k), v]));
      (endpoints[url.join(' ')] ??= {})[original ? method : method.toLowerCase()] = shaped;
    }
    return { endpoints };
  });
}
