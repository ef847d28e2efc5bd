import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import { TesseraError } from '../../errors/index.js';
import { evidenceOf } from '../../attestation/verify.js';
import { type Ledger, VIEW, txIdOf } from '../../store/ledger.js';
import { sendJson } from './negotiate.js';
import { GOV } from '../../governance/tables.js';
import type { Store } from '../../store/types.js';
import { type NodeInfo, nodeRows } from '../../governance/nodes.js';

// CCF's /node frontend (src/node/rpc/node_frontend.h), as a single-node service answers it: every
// endpoint there is registered with no_auth_required, so none needs a caller identity. Shapes are those of
// CCF's doc/schemas/node_openapi.json. The one node is Trusted, the primary, in view 2, and its service is
// Open from its first transaction (2.1).

export interface NodeFacts {
  ledger: Ledger;
  /** The node's TLS certificate (it carries the attestation evidence) and the service's CA certificate. */
  certPem: string;
  caPem: string;
  version: string;
  /** The app runtime's limits, for /node/js_metrics. */
  appRuntime: { maxExecutionMs: number; maxHeapMiB: number; maxCachedInterpreters: number };
  readiness: Readiness;
  /** The bound addresses of every listener, by name (`https` and the MesaTEE wire listeners). */
  listeners?: () => Record<string, { host: string; port: number }>;
  /** The shared store, for the service's other nodes (public:ccf.gov.nodes.info); without it, the node lists itself alone. */
  store?: Store;
}

/** Where the node is in its life, for /node/state and /node/ready/*. */
export interface Readiness {
  /** Everything the node had before it stopped is back (workflows restored with their state). */
  ready(): boolean;
  /** The node has begun to stop (SIGTERM): load balancers should send nothing new (CCF's stop notice). */
  stopping(): boolean;
  /** The last transaction in the store when the node started: where it resumed from. */
  startupSeqno: number;
}

/** CCF's QuoteFormat for each attestation provider; TDX has none in CCF, so its provider's name is given. */
const QUOTE_FORMAT: Record<string, string> = { software: 'Insecure_Virtual', 'sev-snp': 'AMD_SEV_SNP_v1', tdx: 'TDX' };

export const SERVICE_CREATION_TXID = txIdOf(1);

export function publishedAddress(app: FastifyInstance): string {
  const a = app.server.address() as AddressInfo | null;
  return a ? `${a.address}:${a.port}` : '';
}

/** The node's RPC interface as CCF describes it in NodeInfoNetwork. */
export function rpcInterfaces(app: FastifyInstance) {
  const address = publishedAddress(app);
  return { primary_rpc_interface: { bind_address: address, published_address: address, protocol: 'tcp', app_protocol: 'HTTP1' } };
}

/** The node's attestation as a CCF Quote: the evidence's report is `raw`, what verifies it `endorsements`. */
export function quoteOf(facts: NodeFacts) {
  const evidence = evidenceOf(Buffer.from(new X509Certificate(facts.certPem).raw));
  return {
    node_id: facts.ledger.id,
    raw: evidence.report,
    endorsements: evidence.auxiliary ?? '',
    format: QUOTE_FORMAT[evidence.provider] ?? evidence.provider,
    measurement: evidence.mr_enclave,
  };
}

export function nodeRoutes(app: FastifyInstance, facts: NodeFacts) {
  const { ledger } = facts;
  const json = (body: () => unknown) => async (request: FastifyRequest, reply: FastifyReply) => sendJson(request, reply, body());
  // CCF's rpc_interfaces is a map of named interfaces; the MesaTEE wire listeners are named ones beside the primary.
  const wireInterfaces = () =>
    Object.fromEntries(
      Object.entries(facts.listeners?.() ?? {})
        .filter(([name]) => name !== 'https')
        .map(([name, a]) => [name, { bind_address: `${a.host}:${a.port}`, published_address: `${a.host}:${a.port}`, protocol: 'tcp', app_protocol: 'MesaTEE' }]),
    );
  const self = () => ({ node_id: ledger.id, status: 'Trusted', primary: true, rpc_interfaces: { ...rpcInterfaces(app), ...wireInterfaces() }, node_data: null, last_written: 1 });
  // CCF's GetNode::NodeInfo for every row of the nodes table. There is no primary in a Tessera cluster (every
  // Trusted node takes writes, the store orders them): each node calls itself primary, as a client would find
  // it. Another node's addresses are not recorded, so its rpc_interfaces is empty.
  const view = (id: string, n: NodeInfo, lastWritten: number | undefined) =>
    id === ledger.id ? { ...self(), status: n.status, node_data: n.node_data, last_written: lastWritten ?? 1 } : { node_id: id, status: n.status, primary: false, rpc_interfaces: {}, node_data: n.node_data, last_written: lastWritten ?? 0 };
  const nodes = () => {
    const rows = facts.store?.read((tx) => nodeRows(tx).map(([id, n]) => view(id, n, tx.versionOf(GOV.nodesInfo, id)))) ?? [];
    // An empty table: the service is this node alone, made by init (governance/nodes.ts).
    return rows.length ? rows : [self()];
  };
  let peakHeap = 0;
  let peakSessions = 0;
  const hide = { schema: { hide: true } };

  const { readiness } = facts;
  // CCF's GetState. A node answers it only once it is ready, so that a probe (or 'tessera status') that
  // sees PartOfNetwork can use everything; before that it is 503 with a retry-after, as /node/ready/* is.
  app.get('/node/state', { schema: { summary: "The node's state (CCF's GetState): 503 until the node is ready, then PartOfNetwork", tags: ['node'], security: [] } }, async (request, reply) => {
    if (!readiness.ready()) throw new TesseraError('unavailable', 'the node is starting: its workflows are being restored; retry shortly', { retryAfterSeconds: 1 });
    return sendJson(request, reply, { node_id: ledger.id, state: 'PartOfNetwork', last_signed_seqno: ledger.lastSigned(), startup_seqno: readiness.startupSeqno, stop_notice: readiness.stopping() });
  });
  app.get('/node/version', hide, json(() => ({ ccf_version: `tessera-${facts.version}`, quickjs_version: `v8-${process.versions.v8}`, unsafe: false })));
  app.get('/node/quotes/self', hide, json(() => quoteOf(facts)));
  app.get('/node/attestations/self', hide, json(() => quoteOf(facts)));
  app.get('/node/quotes', hide, json(() => ({ quotes: [quoteOf(facts)] })));
  app.get('/node/attestations', hide, json(() => ({ attestations: [quoteOf(facts)] })));
  app.get('/node/network', hide, json(() => ({
    service_status: 'Open',
    service_certificate: facts.caPem,
    current_view: VIEW,
    primary_id: ledger.id,
    recovery_count: 0,
    service_data: null,
    current_service_create_txid: SERVICE_CREATION_TXID,
  })));
  app.get('/node/service/previous_identity', hide, async () => {
    throw new TesseraError('not_found', 'This service is not a recovery of a previous service.');
  });
  app.get<{ Querystring: Record<string, string> }>('/node/network/nodes', hide, async (request, reply) => {
    const { host, port, status } = request.query;
    if (status !== undefined && !['Pending', 'Trusted', 'Retired'].includes(status)) {
      throw new TesseraError('invalid_query_parameter', `Query parameter '${status}' is not a valid node status`);
    }
    const matched = nodes().filter((node) => {
      const published = (node.rpc_interfaces as Partial<ReturnType<typeof rpcInterfaces>>).primary_rpc_interface?.published_address;
      const [pubHost, pubPort] = published ? splitAddress(published) : [undefined, undefined];
      return (status === undefined || status === node.status) && (host === undefined || host === pubHost) && (port === undefined || port === pubPort);
    });
    return sendJson(request, reply, { nodes: matched });
  });
  app.get('/node/network/removable_nodes', hide, json(() => ({ nodes: [] })));
  app.get('/node/network/nodes/self', hide, json(() => nodes().find((n) => n.node_id === ledger.id) ?? self()));
  app.get('/node/network/nodes/primary', hide, json(self));
  app.get<{ Params: { node_id: string } }>('/node/network/nodes/:node_id', hide, async (request, reply) => {
    const node = nodes().find((n) => n.node_id === request.params.node_id);
    if (!node) throw new TesseraError('not_found', 'Node not found');
    return sendJson(request, reply, node);
  });
  // Only a retired node whose retirement is committed may be removed; the one node never is.
  app.delete<{ Params: { node_id: string } }>('/node/network/nodes/:node_id', hide, async (request) => {
    if (request.params.node_id !== ledger.id) throw new TesseraError('not_found', 'No such node');
    throw new TesseraError('node_not_retired_committed', 'Node is not completely retired');
  });
  // The node is always the primary: GET and HEAD /node/primary say 200, /node/backup 404.
  app.route({ method: ['GET', 'HEAD'], url: '/node/primary', schema: { hide: true }, exposeHeadRoute: false, handler: async (_request, reply) => reply.status(200).send() });
  app.get('/node/backup', hide, async () => {
    throw new TesseraError('not_found', 'Node is not backup');
  });
  app.get('/node/config', hide, json(() => ({ [ledger.id]: { address: publishedAddress(app) } })));
  app.get('/node/consensus', hide, json(() => ({
    details: {
      configs: [{ idx: 1, nodes: { [ledger.id]: { address: publishedAddress(app) } }, rid: 1 }],
      acks: {},
      membership_state: 'Active',
      leadership_state: 'Leader',
      reconfiguration_type: 'OneTransaction',
      primary_id: ledger.id,
      current_view: VIEW,
      ticking: true,
    },
  })));
  app.get('/node/memory', hide, json(() => {
    const heap = getHeapStatistics();
    peakHeap = Math.max(peakHeap, heap.used_heap_size);
    return { max_total_heap_size: heap.heap_size_limit, current_allocated_heap_size: heap.used_heap_size, peak_allocated_heap_size: peakHeap };
  }));
  app.get('/node/metrics', hide, async (request, reply) => {
    const active = await new Promise<number>((resolve) => app.server.getConnections((_err, n) => resolve(n ?? 0)));
    peakSessions = Math.max(peakSessions, active);
    const cap = app.server.maxConnections;
    return sendJson(request, reply, { sessions: { active, peak: peakSessions, interfaces: { primary_rpc_interface: { active, peak: peakSessions, soft_cap: cap, hard_cap: cap } } } });
  });
  // Tessera's apps run in V8 with its code cache, not QuickJS bytecode: no bytecode is stored or used.
  app.get('/node/js_metrics', hide, json(() => ({
    bytecode_size: 0,
    bytecode_used: false,
    max_heap_size: facts.appRuntime.maxHeapMiB * 1024 * 1024,
    max_stack_size: 1024 * 1024,
    max_execution_time: facts.appRuntime.maxExecutionMs,
    max_cached_interpreters: facts.appRuntime.maxCachedInterpreters,
  })));
  app.get('/node/service/configuration', hide, json(() => ({
    recovery_threshold: 0,
    consensus: 'CFT',
    reconfiguration_type: 'OneTransaction',
    maximum_node_certificate_validity_days: 365,
    maximum_service_certificate_validity_days: 365,
    recent_cose_proposals_window_size: 100,
  })));
  app.get('/node/jwt_keys/refresh/metrics', hide, json(() => ({ attempts: 0, successes: 0, failures: 0 })));
  app.get('/node/index/strategies', hide, json(() => []));
  app.get('/node/self_signed_certificate', hide, json(() => ({ self_signed_certificate: facts.certPem })));
  // As CCF's: 204 while the node is ready and not stopping, 503 otherwise (a load balancer's probe).
  const readyProbe = async (_request: FastifyRequest, reply: FastifyReply) => reply.status(readiness.ready() && !readiness.stopping() ? 204 : 503).send();
  app.get('/node/ready/app', { schema: { summary: 'Readiness of the app frontend: 204 ready, 503 starting or stopping', tags: ['node'], security: [] } }, readyProbe);
  app.get('/node/ready/gov', { schema: { summary: 'Readiness of the governance frontend: 204 ready, 503 starting or stopping', tags: ['node'], security: [] } }, readyProbe);
  app.get('/node/api', hide, json(() => openApiOf(app, '/node/', facts.version)));
}

function splitAddress(address: string): [string, string] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), address.slice(at + 1)];
}

/** An OpenAPI 3.0 description of the routes under `prefix`, as CCF's /api of each frontend gives. */
export function openApiOf(app: FastifyInstance, prefix: string, version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of registered.get(app) ?? []) {
    if (!r.url.startsWith(prefix)) continue;
    const url = r.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    for (const m of r.methods) if (m !== 'HEAD' || r.methods.length === 1) (paths[url] ??= {})[m.toLowerCase()] = { responses: { default: { description: 'Default response' } } };
  }
  return { openapi: '3.0.0', info: { title: `Tessera ${prefix.replace(/\//g, '')} frontend`, description: 'The CCF-compatible endpoints of this frontend', version }, paths };
}

/** Routes as registered, per server, for openApiOf. */
const registered = new WeakMap<FastifyInstance, Array<{ url: string; methods: string[] }>>();

/** Records every route of `app` (call before any route is added). */
export function recordRoutes(app: FastifyInstance) {
  const list: Array<{ url: string; methods: string[] }> = [];
  registered.set(app, list);
  app.addHook('onRoute', (route) => void list.push({ url: route.url, methods: ([] as string[]).concat(route.method) }));
}
