import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { X509Certificate } from 'node:crypto';
import { TesseraError } from '../../errors/index.js';
import { evidenceOf } from '../../attestation/verify.js';
import { GovernanceReads } from '../../governance/reads.js';
import type { PrincipalService } from '../../identity/principals.js';
import { type Ledger, parseTxId, txIdOf } from '../../store/ledger.js';
import type { Store } from '../../store/types.js';
import { type NodeFacts, SERVICE_CREATION_TXID, publishedAddress } from './node.js';
import { sendJson } from './negotiate.js';
import { type NodeInfo, nodeRows } from '../../governance/nodes.js';

// CCF's /gov service-state, transaction and state-digest reads (src/node/gov/handlers/service_state.h,
// transactions.h, acks.h): all registered with no_auth_required, each behind CCF's api-version check
// (src/node/gov/api_version.h), which src/http/routes/gov.ts applies to every /gov route that takes one.

const HEX_ID = /^[0-9A-Fa-f]{64}$/;
const badId = (value: string, what: string) => new TesseraError('invalid_resource_name', `'${value}' is not a valid hex-encoded ${what} ID`);

export function govReadRoutes(app: FastifyInstance, opts: { store: Store; principals: PrincipalService; ledger: Ledger; node: NodeFacts }) {
  const reads = new GovernanceReads(opts.principals);
  const read = <T>(fn: (r: GovernanceReads, tx: Parameters<Parameters<Store['read']>[0]>[0]) => T) => opts.store.read((tx) => fn(reads, tx));
  const json = (body: (request: FastifyRequest) => unknown) => async (request: FastifyRequest, reply: FastifyReply) => sendJson(request, reply, body(request));

  const nodeView = () => {
    const evidence = evidenceOf(Buffer.from(new X509Certificate(opts.node.certPem).raw));
    // CCF's quoteInfo for a virtual (insecure) node gives the raw quote and its measurement; other formats their endorsements.
    const quoteInfo =
      evidence.provider === 'software'
        ? { format: 'Insecure_Virtual', rawQuote: evidence.report, details: { measurement: evidence.mr_enclave, reportData: null, hostData: null } }
        : { format: evidence.provider === 'sev-snp' ? 'AMD_SEV_SNP_v1' : evidence.provider };
    return {
      nodeId: opts.ledger.id,
      status: 'Trusted',
      nodeData: null,
      certificate: opts.node.certPem,
      retiredCommitted: false,
      quoteInfo,
      rpcInterfaces: { primary_rpc_interface: { publishedAddress: publishedAddress(app), protocol: 'HTTP1' } },
    };
  };

  app.get('/gov/service/constitution', { schema: { hide: true } }, async (_request, reply) => reply.type('text/javascript').send(read((r, tx) => r.constitution(tx))));
  app.get('/gov/service/info', { schema: { hide: true } }, json(() => ({
    status: 'Open',
    certificate: opts.node.caPem,
    recoveryCount: 0,
    creationTransactionId: SERVICE_CREATION_TXID,
    serviceData: null,
    configuration: { recoveryThreshold: 0, maximumNodeCertificateValidityDays: 365, maximumServiceCertificateValidityDays: 365, recentCoseProposalsWindowSize: 100 },
  })));
  app.get('/gov/service/members', { schema: { hide: true } }, json(() => ({ value: read((r, tx) => r.members(tx)) })));
  app.get<{ Params: { memberId: string } }>('/gov/service/members/:memberId', { schema: { hide: true } }, json((request) => {
    const id = (request.params as { memberId: string }).memberId;
    if (!HEX_ID.test(id)) throw badId(id, 'member');
    const member = read((r, tx) => r.members(tx)).find((m) => m.memberId === id);
    if (!member) throw new TesseraError('not_found', `Member ${id} does not exist.`);
    return member;
  }));
  app.get('/gov/service/users', { schema: { hide: true } }, json(() => ({ value: read((r, tx) => r.users(tx)) })));
  app.get<{ Params: { userId: string } }>('/gov/service/users/:userId', { schema: { hide: true } }, json((request) => {
    const id = (request.params as { userId: string }).userId;
    if (!HEX_ID.test(id)) throw badId(id, 'user');
    const user = read((r, tx) => r.users(tx)).find((u) => u.userId === id);
    if (!user) throw new TesseraError('not_found', `User ${id} does not exist.`);
    return user;
  }));
  // Every row of the nodes table; an empty table is this node alone (governance/nodes.ts). Another node's
  // quote is the one it recorded when it last started; its addresses are not recorded.
  const rowView = (id: string, n: NodeInfo) => {
    if (id === opts.ledger.id) return { ...nodeView(), status: n.status, nodeData: n.node_data, retiredCommitted: n.retired_committed };
    const quote = n.quote_info;
    const quoteInfo = quote ? (quote.format === 'Insecure_Virtual' ? { format: quote.format, rawQuote: quote.quote, details: { measurement: n.measurement, reportData: null, hostData: null } } : { format: quote.format }) : null;
    return { nodeId: id, status: n.status, nodeData: n.node_data, certificate: n.cert, retiredCommitted: n.retired_committed, quoteInfo, rpcInterfaces: {} };
  };
  const allNodes = () => {
    const rows = read((_r, tx) => nodeRows(tx));
    return rows.length ? rows.map(([id, n]) => rowView(id, n)) : [nodeView()];
  };
  app.get('/gov/service/nodes', { schema: { hide: true } }, json(() => ({ value: allNodes() })));
  app.get<{ Params: { nodeId: string } }>('/gov/service/nodes/:nodeId', { schema: { hide: true } }, json((request) => {
    const id = (request.params as { nodeId: string }).nodeId;
    if (!HEX_ID.test(id)) throw badId(id, 'node');
    const node = allNodes().find((n) => n.nodeId === id);
    if (!node) throw new TesseraError('not_found', `Node ${id} does not exist.`);
    return node;
  }));
  app.get('/gov/service/jwk', { schema: { hide: true } }, json(() => read((r, tx) => r.jwk(tx))));
  // Tessera admits no other node, so no measurement is allowed to join: every list is empty.
  app.get('/gov/service/join-policy', { schema: { hide: true } }, json(() => ({
    sgx: { measurements: [] },
    virtual: { measurements: [], hostData: [] },
    snp: { measurements: [], hostData: {}, uvmEndorsements: {}, tcbVersions: {} },
  })));
  app.get('/gov/service/transactions/commit', { schema: { hide: true } }, json(() => {
    const id = txIdOf(opts.ledger.lastCommitted());
    return { status: opts.ledger.status(id), transactionId: id };
  }));
  app.get<{ Params: { transactionId: string } }>('/gov/service/transactions/:transactionId', { schema: { hide: true } }, json((request) => {
    const id = (request.params as { transactionId: string }).transactionId;
    if (!parseTxId(id)) throw new TesseraError('invalid_query_parameter', `The value '${id}' passed as parameter 'transactionId' could not be converted to a valid Transaction ID.`);
    return { status: opts.ledger.status(id), transactionId: id };
  }));
  app.get<{ Params: { memberId: string } }>('/gov/members/state-digests/:memberId', { schema: { hide: true } }, json((request) => {
    const id = (request.params as { memberId: string }).memberId;
    const digest = read((r, tx) => r.stateDigest(tx, id));
    if (digest === undefined) throw new TesseraError('not_found', `No ACK record exists for member ${id}.`);
    return { memberId: id, stateDigest: digest };
  }));
}
