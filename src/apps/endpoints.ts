import { TesseraError } from '../errors/index.js';
import { type PathTemplate, type TemplatePiece, parsePathTemplate } from '../governance/path-template.js';

// Dispatch under /app from the deployed bundle's endpoints (ccf.md §5): the exact path first, then the
// templates; several template matches are an error naming each; other verbs give 405 (204 for OPTIONS).

export interface EndpointInfo {
  js_module: string;
  js_function: string;
  authn_policies: Array<string | { all_of: string[] }>;
  mode: 'readwrite' | 'readonly' | 'historical';
  forwarding_required?: string;
  openapi?: Record<string, unknown>;
  openapi_hidden?: boolean;
  interpreter_reuse?: { key: string };
}

export interface Endpoint {
  method: string;
  url: string;
  info: EndpointInfo;
  /** Null for a path without parameters, matched exactly. */
  template: PathTemplate | null;
  names: string[];
}

/** The endpoint for a request, or, for OPTIONS on a known path, the methods it takes. Other misses throw. */
export type Match = { endpoint: Endpoint; params: Record<string, string> } | { options: string[] };

/**
 * The values of `template`'s parameters in `path`, or null if it does not match. As in CCF, each `{name}`
 * is one or more characters other than '/', and when a segment could be split between parameters in
 * several ways each takes as much as still lets the rest match (what CCF's greedy regex chooses). Unlike a
 * backtracking regex this takes time linear in the path for a given template, adjacent parameters
 * (`/{year}{month}{day}`) included.
 */
export function matchTemplate(template: PathTemplate, path: string): Record<string, string> | null {
  const parts = path.split('/');
  if (parts.length !== template.segments.length) return null;
  const values: string[] = [];
  for (let i = 0; i < parts.length; i++) if (!matchSegment(template.segments[i], parts[i], values)) return null;
  return Object.fromEntries(template.names.map((n, i) => [n, values[i]]));
}

/** Matches one segment (no '/') against its pieces, filling in `values`. */
function matchSegment(pieces: TemplatePiece[], s: string, values: string[]): boolean {
  if (pieces.every((p) => typeof p === 'string')) return pieces.join('') === s;
  const k = pieces.length;
  const n = s.length;
  // fits[t][j]: pieces t.. match s from j to its end. Built from the last piece back, each in one pass.
  const fits: Uint8Array[] = new Array(k + 1);
  fits[k] = new Uint8Array(n + 1);
  fits[k][n] = 1;
  for (let t = k - 1; t >= 0; t--) {
    const next = fits[t + 1];
    const here = new Uint8Array(n + 1);
    const piece = pieces[t];
    if (typeof piece === 'string') {
      for (let j = 0; j + piece.length <= n; j++) if (next[j + piece.length] && s.startsWith(piece, j)) here[j] = 1;
    } else {
      // A parameter fits at j if the rest fits at some j' > j.
      let later = 0;
      for (let j = n; j >= 0; j--) {
        here[j] = later;
        later |= next[j];
      }
    }
    fits[t] = here;
  }
  if (!fits[0][0]) return false;
  let j = 0;
  for (let t = 0; t < k; t++) {
    const piece = pieces[t];
    if (typeof piece === 'string') {
      j += piece.length;
      continue;
    }
    let end = n;
    while (!fits[t + 1][end]) end--;
    values[piece] = s.slice(j, end);
    j = end;
  }
  return true;
}

function compile(url: string): { template: PathTemplate | null; names: string[] } {
  if (!url.includes('{')) return { template: null, names: [] };
  try {
    const template = parsePathTemplate(url);
    return { template, names: template.names };
  } catch (err) {
    throw new TesseraError('invalid_input', (err as Error).message);
  }
}

export function loadEndpoints(rows: Array<[string, EndpointInfo]>): Endpoint[] {
  return rows.map(([key, info]) => {
    const space = key.indexOf(' ');
    const url = key.slice(space + 1);
    return { method: key.slice(0, space), url, info, ...compile(url) };
  });
}

export function match(endpoints: Endpoint[], method: string, path: string): Match {
  const candidates = (m: string) => {
    const exact = endpoints.find((e) => e.method === m && e.url === path);
    if (exact) return [{ endpoint: exact, params: {} }];
    return endpoints
      .filter((e) => e.method === m && e.template)
      .flatMap((e) => {
        const params = matchTemplate(e.template!, path);
        return params ? [{ endpoint: e, params }] : [];
      });
  };
  const here = candidates(method);
  if (here.length === 1) return here[0];
  if (here.length > 1) {
    throw new TesseraError('app_route_ambiguous', `Multiple potential matches for path: ${path}\n${here.map((h) => h.endpoint.url).join('\n')}`);
  }
  const verbs = [...new Set(endpoints.map((e) => e.method))].filter((m) => candidates(m).length > 0).sort();
  // CCF's frontend lists OPTIONS first, then the path's verbs (src/node/rpc/frontend.h).
  const allow = verbs.length ? ['OPTIONS', ...verbs] : [];
  if (allow.length) {
    if (method === 'OPTIONS') return { options: allow };
    throw new TesseraError('method_not_allowed', `Allowed methods for '${path}' are: ${allow.join(', ')}.`, { allowedMethods: allow });
  }
  throw new TesseraError('not_found', `Unknown path: ${path}.`);
}

/** GET /app/api: the endpoints' own openapi fields, merged into an OpenAPI 3.0 document. */
export function openApiDocument(endpoints: Endpoint[], version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const e of endpoints) {
    if (e.info.openapi_hidden) continue;
    const operation = { responses: { default: { description: 'Default response' } }, ...(e.info.openapi ?? {}) };
    const parameters = e.names.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    (paths[`/app${e.url}`] ??= {})[e.method.toLowerCase()] = parameters.length && !('parameters' in operation) ? { ...operation, parameters } : operation;
  }
  return { openapi: '3.0.0', info: { title: 'Tessera application', description: 'The JavaScript application deployed by governance', version }, servers: [], paths };
}
