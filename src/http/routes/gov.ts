import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../errors/index.js';
import { X509Certificate } from 'node:crypto';
import { type CoseMessage, type GovMessageType, decodeCoseSign1 } from '../../crypto/cose.js';
import type { PrincipalService } from '../../identity/principals.js';
import type { GovernanceService } from '../../governance/service.js';
import { txIdOf } from '../../store/ledger.js';
import type { StateDigests } from '../../governance/state-digests.js';

const API_VERSION_LIST = ['2023-06-01-preview', '2024-07-01'];
const NO_API_VERSION = new Set(['/gov/commit', '/gov/tx', '/gov/receipt', '/gov/api']);

/** CCF's get_api_version: 400 MissingApiVersionParameter or UnsupportedApiVersionValue, naming the versions accepted. */
export function checkApiVersion(request: FastifyRequest, accepted: string[]): string {
  const suffix = `The supported api-versions are: ${accepted.join(', ')}`;
  const version = new URL(request.url, 'https://node').searchParams.get('api-version');
  if (version === null) throw new TesseraError('missing_api_version', `The api-version query parameter (?api-version=) is required for all requests. ${suffix}`);
  if (!accepted.includes(version)) throw new TesseraError('unsupported_api_version', `Unsupported api-version '${version}'. ${suffix}`);
  return version;
}

/**
 * CCF's MemberCOSESign1AuthnPolicy (src/endpoints/authentication/cose_auth.cpp) checks the message type
 * once the signature verifies, and a wrong one is an authentication failure: 401 with its wording.
 */
function checkMessageType(msg: CoseMessage, expected: GovMessageType, principals: PrincipalService) {
  if (msg.type === expected) return;
  const member = principals.byCertId(msg.kid);
  if (!member || member.role !== 'member' || !msg.verify(new X509Certificate(member.certPem))) return;
  throw new TesseraError('unauthenticated', `Found ccf.gov.msg.type set to ${msg.type}, expected ccf.gov.msg.type to be ${expected}`);
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()).replace(/^openapi$/, 'openApi');

/** CCF's /gov API: signed (COSE Sign1) proposals, ballots, withdrawals and acks, and read-only views. */
export function govRoutes(app: FastifyInstance, gov: GovernanceService, lastCommitted: () => number, principals: PrincipalService, stateDigests: StateDigests) {
  app.addContentTypeParser('application/cose', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // CCF checks api-version in each /gov handler (src/node/gov/api_version.h); the common endpoints
  // (/gov/commit, /gov/tx, /gov/receipt) take none, and /gov/api answers without one. The JavaScript app
  // reads accept 2024-07-01 only.
  app.addHook('preHandler', async (request) => {
    const route = request.routeOptions.url ?? '';
    if (!route.startsWith('/gov/') || NO_API_VERSION.has(route)) return;
    checkApiVersion(request, route.startsWith('/gov/service/javascript-') ? ['2024-07-01'] : API_VERSION_LIST);
  });

  const committed = (reply: FastifyReply, seqno: number | null) => reply.header('x-ms-ccf-transaction-id', txIdOf(seqno ?? lastCommitted()));

  const envelope = (request: FastifyRequest, type: GovMessageType) => {
    if (!Buffer.isBuffer(request.body)) throw new TesseraError('invalid_input', 'the body must be a COSE Sign1 envelope with content-type application/cose');
    // The envelope is the only authentication of a /gov write: bytes that are not one fail it (401), as a
    // missing certificate would on another route, rather than being a malformed request.
    let msg: ReturnType<typeof decodeCoseSign1>;
    try {
      msg = decodeCoseSign1(request.body);
    } catch (err) {
      // Specific refusals (e.g. invalid_created_at) keep their code; bytes that do not decode at all fail authentication.
      if (err instanceof TesseraError && (err.code === 'invalid_input' || err.code === 'parse_error' || err.code === 'missing_value')) throw new TesseraError('unauthenticated', `Failed to decode COSE Sign1 envelope: ${err.message}`);
      throw err;
    }
    checkMessageType(msg, type, principals);
    return msg;
  };

  app.post('/gov/members/*', { schema: { hide: true } }, async (request, reply) => {
    const path = new URL(request.url, 'https://x').pathname;
    let m: RegExpExecArray | null;
    if (path === '/gov/members/proposals:create') {
      const { result, seqno } = await gov.propose(envelope(request, 'proposal'));
      return committed(reply, seqno).send(result);
    }
    if ((m = /^\/gov\/members\/proposals\/([0-9a-f]+)\/ballots\/([0-9a-f]+):submit$/.exec(path))) {
      const { result, seqno } = await gov.ballot(envelope(request, 'ballot'), m[1], m[2]);
      return committed(reply, seqno).send(result);
    }
    if ((m = /^\/gov\/members\/proposals\/([0-9a-f]+):withdraw$/.exec(path))) {
      const { result, seqno } = await gov.withdraw(envelope(request, 'withdrawal'), m[1]);
      // CCF answers 204 for a proposal it does not know: withdrawal is idempotent.
      return result === null ? committed(reply, seqno).status(204).send() : committed(reply, seqno).send(result);
    }
    if ((m = /^\/gov\/members\/state-digests\/([0-9a-f]+):ack$/.exec(path))) {
      const { result, seqno } = await gov.ack(envelope(request, 'ack'), m[1]);
      return committed(reply, seqno).send(result);
    }
    if ((m = /^\/gov\/members\/state-digests\/([0-9a-f]+):update$/.exec(path))) {
      const { result, seqno } = await stateDigests.update(envelope(request, 'state_digest'), m[1]);
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
    if (source === undefined) throw new TesseraError('not_found', `Module ${decodeURIComponent(request.params.name)} does not exist.`);
    return reply.type('text/javascript').send(source);
  });
  app.get<{ Querystring: { case?: string } }>('/gov/service/javascript-app', async (request) => {
    if (request.query.case !== undefined && request.query.case !== 'original') {
      throw new TesseraError('invalid_query_parameter', "Accepted values for the 'case' query parameter are: original");
    }
    const original = request.query.case === 'original';
    const endpoints: Record<string, Record<string, unknown>> = {};
    for (const [key, info] of gov.endpoints()) {
      const [method, ...url] = key.split(' ');
      const shaped = original ? info : Object.fromEntries(Object.entries(info).map(([k, v]) => [camel(k), v]));
      // CCF keys each operation by its verb's llhttp name (RESTVerb::c_str), upper case, in either case mode.
      (endpoints[url.join(' ')] ??= {})[method.toUpperCase()] = shaped;
    }
    return { endpoints };
  });
}
