import { TesseraError } from '../../errors/index.js';
import type { WorkflowSpec } from '../spec.js';
import type { ResourceClass } from './types.js';
import { ERR } from './types.js';

/**
 * http-ingress: the node's /ingress listener delivers matching requests to what `new_request` maps to
 * (WorkflowService.handleIngress, from the routes each workflow claims). It takes no events itself.
 */
export const httpIngress: ResourceClass = {
  classType: 'http-ingress',
  unavailable: () => null,
  start: async () => ({ cast: () => {}, call: () => ERR }),
};

/** The methods EDGELESS's http-ingress knows (edgeless_http/src/lib.rs string_method_to_edgeless). */
export const INGRESS_METHODS: Record<string, string> = { GET: 'Get', HEAD: 'Head', POST: 'Post', PUT: 'Put', DELETE: 'Delete', PATCH: 'Patch' };

/**
 * An http-ingress route: who may be sent what. A null host or methods means any. `host` is lower-case;
 * `port` is null when the configured host named none (then any port matches). `wfId` is the workflow's
 * id when the resource sets `wf_id=true`: only requests whose query carries `wf_id=<that id>` match.
 */
export interface Route {
  host: string | null;
  port: string | null;
  methods: string[] | null;
  wfId: string | null;
  async: boolean;
  encodeBase64: boolean;
  target: string;
}

/** EDGELESS's booleans of http-ingress: `eq_ignore_ascii_case("true")`, anything else false. */
const flag = (v: string | undefined) => v?.toLowerCase() === 'true';

/** A host or host:port, lower-cased (host names are case-insensitive), split. */
function splitHost(value: string): { host: string; port: string | null } {
  const v = value.trim().toLowerCase();
  const m = /^(.*?)(?::([0-9]+))?$/.exec(v)!;
  // An IPv6 literal without brackets has colons of its own: take it whole.
  if (m[1].includes(':') && !m[1].startsWith('[')) return { host: v, port: null };
  return { host: m[1], port: m[2] ?? null };
}

/**
 * A workflow's http-ingress routes, from each resource's `host`, `method` (or `methods`), `wf_id`,
 * `async` and `encode_base64` configurations (EDGELESS resources/http_ingress.rs). A method outside
 * EDGELESS's six is refused, naming the resource, as EDGELESS refuses it at start.
 */
export function ingressRoutes(spec: WorkflowSpec, workflowId: string): Route[] {
  const routes: Route[] = [];
  for (const r of spec.resources) {
    if (r.class_type !== 'http-ingress') continue;
    const c = r.configurations ?? {};
    // EDGELESS reads only `method`; its examples write `methods`, which Tessera reads as `method` rather than
    // ignoring it. Both at once, differing, would leave one silently unused: refused.
    if (c.method !== undefined && c.methods !== undefined && c.method !== c.methods) {
      throw new TesseraError('invalid_input', `invalid workflow: resource '${r.name}' (http-ingress) sets both 'method' and 'methods'; give one`);
    }
    const methods = (c.method ?? c.methods ?? '').split(',').map((m) => m.trim().toUpperCase()).filter(Boolean);
    for (const m of methods) {
      if (!INGRESS_METHODS[m]) throw new TesseraError('invalid_input', `invalid workflow: resource '${r.name}' (http-ingress): invalid method '${m}' (one of ${Object.keys(INGRESS_METHODS).join(', ')})`);
    }
    const target = r.output_mapping?.new_request;
    if (!target) continue;
    const host = c.host?.trim() ? splitHost(c.host) : null;
    routes.push({
      host: host?.host ?? null,
      port: host?.port ?? null,
      methods: methods.length ? methods : null,
      wfId: flag(c.wf_id) ? workflowId : null,
      async: flag(c.async),
      encodeBase64: flag(c.encode_base64),
      target,
    });
  }
  return routes;
}

/** The first `wf_id=` parameter of a query, verbatim (no percent-decoding), as EDGELESS reads it; null without one. */
export function wfIdOf(path: string): string | null {
  const q = path.indexOf('?');
  if (q < 0) return null;
  for (const param of path.slice(q + 1).split('&')) {
    const eq = param.indexOf('=');
    if (eq >= 0 && param.slice(0, eq) === 'wf_id') return param.slice(eq + 1);
  }
  return null;
}

/** Whether a request (its Host header, method and path with query) matches a route. */
export function routeMatches(r: Route, req: { host: string; method: string; path: string }): boolean {
  const { host, port } = splitHost(req.host);
  if (r.host !== null && (r.host !== host || (r.port !== null && r.port !== port))) return false;
  if (r.methods !== null && !r.methods.includes(req.method)) return false;
  return r.wfId === null || r.wfId === wfIdOf(req.path);
}

/** Two routes overlap when some request (a host, a method and a query) matches both. */
export function overlaps(a: Route, b: Route): boolean {
  if (a.host !== null && b.host !== null && (a.host !== b.host || (a.port !== null && b.port !== null && a.port !== b.port))) return false;
  if (a.methods !== null && b.methods !== null && !a.methods.some((m) => b.methods!.includes(m))) return false;
  // Two routes each asking for their own workflow's id never see the same request.
  if (a.wfId !== null && b.wfId !== null && a.wfId !== b.wfId) return false;
  return true;
}

export const describeRoute = (r: Route) => `(host ${r.host === null ? 'any' : r.port === null ? r.host : `${r.host}:${r.port}`}, method ${r.methods?.join(',') ?? 'any'}${r.wfId ? `, wf_id ${r.wfId}` : ''})`;
