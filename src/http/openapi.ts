import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';

// The OpenAPI description of every REST surface (GET /v1/api, browsable at /v1/docs): Tessera's own /v1
// API, Fn's /invoke and /t, EDGELESS's /ingress, the CCF app (/app), governance (/gov, writes included)
// and the node frontend (/node), each operation with a summary and the security it really has.

/** How each kind of caller proves who it is (src/http/auth.ts). */
export const SECURITY_SCHEMES = {
  clientCertificate: {
    type: 'mutualTLS',
    description: "A client certificate issued by the node's CA (tessera init / tessera user add), for every identity: users, members and the node's service identity.",
  },
  userToken: {
    type: 'http',
    scheme: 'bearer',
    description: "A user's token (DATA-identities/<user>/token), sent as 'Authorization: Bearer <token>' together with the user's client certificate. Members and services send only their certificate.",
  },
} as const;

/** A user: certificate and token together. Members and the service identity: the certificate alone. */
const IDENTIFIED = [{ clientCertificate: [], userToken: [] }, { clientCertificate: [] }];
/** The deployed app's own endpoint policies decide; a certificate (and a user's JWT, if the app asks) may be sent. */
const APP_POLICY = [{}, { clientCertificate: [] }, { clientCertificate: [], userToken: [] }];
const NONE: unknown[] = [];

const TAGS = [
  { name: 'files', description: 'Encrypted files (MesaTEE TDFS over REST)' },
  { name: 'tasks', description: 'Tasks: runs of a function over files, approved by every collaborator (MesaTEE TMS over REST)' },
  { name: 'functions', description: 'JS and WebAssembly task functions registered by users' },
  { name: 'fn', description: 'Process functions, Fn Project compatible: deploy, invoke (/invoke) and HTTP triggers (/t)' },
  { name: 'workflows', description: 'EDGELESS workflows and their http-ingress (/ingress)' },
  { name: 'app', description: 'The CCF app deployed by governance (/app)' },
  { name: 'ledger', description: "CCF's transaction ids, statuses and receipts over the node's ledger" },
  { name: 'governance', description: "CCF governance: proposals, ballots and the service's state (/gov)" },
  { name: 'node', description: "CCF's node frontend (/node): state, readiness, attestation" },
  { name: 'operations', description: 'Health, metrics and this description' },
];

/** Summaries of the routes whose own schema gives none: by method and route pattern. */
const SUMMARIES: Record<string, string> = {
  'GET /v1/health': 'Liveness: the node answers (no authentication)',
  'GET /v1/api': 'This OpenAPI description (no authentication)',
  'POST /invoke/:id': 'Invoke a process function by id (Fn: FDK headers and body as they are)',
  'GET /invoke/:id': 'Fn answers any method but POST on /invoke with 405',
  'ALL /t/:app': "Call a process function through its app's HTTP trigger at the root path",
  'ALL /t/:app/*': "Call a process function through its app's HTTP trigger (Fn-Http-* headers mapped)",
  'ALL /ingress/*': "A workflow's http-ingress resource: the request goes to the instance whose route matches its Host and path",
  'ALL /app/*': "Call an endpoint of the CCF app deployed by governance (the app's own authentication policies apply)",
  'GET /app/api': "The deployed CCF app's own OpenAPI description",
  'GET /gov/api': 'The governance API, as CCF describes it (api-version optional)',
  'GET /node/api': 'The node frontend API, as CCF describes it',
  'GET /app/commit': 'The last committed transaction id (CCF)',
  'GET /app/tx': "A transaction's status: Committed, Pending, Invalid or Unknown (CCF)",
  'GET /app/receipt': 'A signed receipt for a committed transaction (CCF)',
};

/** Summaries made from the path for CCF's many read endpoints, which mirror CCF's own names. */
function derivedSummary(method: string, url: string): string {
  const what = url
    .replace(/^\/(node|gov)\//, '')
    .replace(/\/:([A-Za-z_]+)/g, ' by $1')
    .replaceAll('/', ' ')
    .replaceAll('_', ' ')
    .trim();
  const frontend = url.startsWith('/gov/') ? 'governance' : url.startsWith('/node/') ? 'node' : 'Tessera';
  return `${method === 'DELETE' ? 'Remove' : 'Read'} ${what} (CCF ${frontend} frontend)`;
}

function tagOf(url: string): string {
  if (url.startsWith('/v1/files')) return 'files';
  if (url.startsWith('/v1/tasks')) return 'tasks';
  if (url.startsWith('/v1/functions')) return 'functions';
  if (url.startsWith('/v1/fns') || url.startsWith('/invoke') || url.startsWith('/t/')) return 'fn';
  if (url.startsWith('/v1/workflow') || url.startsWith('/ingress')) return 'workflows';
  if (url.startsWith('/app') || /^\/(commit|tx|receipt)$/.test(url)) return 'app';
  if (url.startsWith('/gov')) return 'governance';
  if (url.startsWith('/node')) return 'node';
  return 'operations';
}

/**
 * Routes left out of the description: the app's unprefixed twins of /app/* and CCF's /commit, /tx and
 * /receipt under every prefix (the /app ones stand for them), and the /gov/members/* dispatcher, whose
 * operations are listed one by one (GOV_WRITES). Each frontend's own /api still lists them (routes/node.ts).
 */
const LEFT_OUT = new Set(['/', '/*', '/commit', '/tx', '/receipt', '/node/commit', '/node/tx', '/node/receipt', '/gov/commit', '/gov/tx', '/gov/receipt', '/gov/members/*']);

/** Names the wildcard of a route (`*`, which OpenAPI cannot express) as the path parameter `path`. */
function namedWildcard(url: string) {
  return url.endsWith('*') ? `${url.slice(0, -1)}:path` : url;
}

const cose = {
  content: { 'application/cose': { schema: { type: 'string', format: 'binary', description: "A COSE Sign1 envelope signed with a member's key, with CCF's ccf.gov.msg.type, ccf.gov.msg.created_at (and proposal id) headers" } } },
  required: true,
};
const govWrite = (summary: string, params: string[]) => ({
  post: {
    tags: ['governance'],
    summary,
    description: "Authenticated by the body, not the connection: the COSE Sign1 signature of a current member (as CCF's member_cose_sign1 policy), so no client certificate is needed.",
    security: NONE,
    parameters: params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    requestBody: cose,
    responses: { 200: { description: 'Done: the governance state after the operation' }, 204: { description: 'Nothing to do (withdrawing a proposal CCF no longer knows)' }, default: { description: 'An error, as CCF reports it: { error: { code, message } }' } },
  },
});

/** The /gov/members/* writes, which one route dispatches (routes/gov.ts). */
const GOV_WRITES = {
  '/gov/members/proposals:create': govWrite('Submit a proposal (CCF)', []),
  '/gov/members/proposals/{proposalId}/ballots/{memberId}:submit': govWrite("Submit a member's ballot on a proposal (CCF)", ['proposalId', 'memberId']),
  '/gov/members/proposals/{proposalId}:withdraw': govWrite('Withdraw a proposal its proposer made (CCF)', ['proposalId']),
  '/gov/members/state-digests/{memberId}:update': govWrite("Update a member's state digest, before acknowledging (CCF)", ['memberId']),
  '/gov/members/state-digests/{memberId}:ack': govWrite('Acknowledge the state digest: an accepted member becomes active (CCF)', ['memberId']),
};

const OPENAPI_KEYS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace', 'summary', 'description', 'servers', 'parameters', '$ref']);

/** Options for @fastify/swagger: the document, and each route's entry completed. */
export function swaggerOptions(version: string, isPublic: (url: string) => boolean): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tessera REST API',
        version,
        description:
          "Every REST surface of a Tessera node. Callers are authenticated before anything is parsed: a client certificate issued by the node's CA (mutual TLS) for every identity, plus 'Authorization: Bearer <token>' for a user. Routes marked with no security need none (health, CCF's /node and /gov reads, the app, whose endpoints apply their own policies); governance writes are authenticated by the member's COSE Sign1 signature in the body.",
      },
      tags: TAGS,
      components: { securitySchemes: SECURITY_SCHEMES as never },
    },
    transform: ({ schema, url, route }) => {
      const method = ([] as string[]).concat(route.method);
      const key = `${method.length > 1 ? 'ALL' : method[0]} ${url}`;
      const own = (schema ?? {}) as Record<string, unknown>;
      const hidden = LEFT_OUT.has(url) || method.every((m) => m === 'HEAD') || url.startsWith('/v1/docs');
      // Every parameter in the path is declared (OpenAPI requires it), typed as the route declares it or as a string.
      const path = namedWildcard(url);
      const declared = (own.params as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
      const names = [...path.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]);
      const pathParams = names.length
        ? { params: { type: 'object', properties: Object.fromEntries(names.map((n) => [n, declared[n] ?? { type: 'string', ...(n === 'path' && url.endsWith('*') ? { description: 'The rest of the path' } : {}) }])), required: names } }
        : {};
      return {
        url: path,
        schema: {
          ...own,
          hide: hidden,
          tags: (own.tags as string[] | undefined) ?? [tagOf(url)],
          summary: (own.summary as string | undefined) ?? SUMMARIES[key] ?? SUMMARIES[`GET ${url}`] ?? derivedSummary(method[0], url),
          security: (own.security as unknown[] | undefined) ?? (url.startsWith('/app/') && url !== '/app/api' && !/^\/app\/(commit|tx|receipt)$/.test(url) ? APP_POLICY : isPublic(url) ? NONE : IDENTIFIED),
          ...pathParams,
        },
      };
    },
    transformObject: (documentObject) => {
      const doc = (documentObject as { openapiObject: { paths?: Record<string, Record<string, unknown>> } }).openapiObject;
      // Routes for every method (app.all) also answer WebDAV's and others, which OpenAPI has no place for.
      for (const item of Object.values(doc.paths ?? {})) for (const key of Object.keys(item)) if (!OPENAPI_KEYS.has(key)) delete item[key];
      doc.paths = { ...(doc.paths ?? {}), ...GOV_WRITES };
      return doc;
    },
  } as FastifyDynamicSwaggerOptions;
}
