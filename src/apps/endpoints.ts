import { TesseraError } from '../errors/index.js';

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
  pattern: RegExp | null;
  names: string[];
}

export type Match = { endpoint: Endpoint; params: Record<string, string> } | { status: 404 | 405 | 204 | 500; allow?: string[]; message: string; code: string };

/** `{name}` matches [^/]+, and also stops at the character right after `}` when that is not '/'. */
function compile(url: string): { pattern: RegExp | null; names: string[] } {
  if (!url.includes('{')) return { pattern: null, names: [] };
  const names: string[] = [];
  let source = '^';
  for (let i = 0; i < url.length; ) {
    if (url[i] === '{') {
      const end = url.indexOf('}', i);
      if (end < 0) throw new TesseraError('invalid_input', `endpoint ${url}: '{' without '}'`);
      const name = url.slice(i + 1, end);
      if (names.includes(name)) throw new TesseraError('invalid_input', `endpoint ${url}: parameter {${name}} appears twice`);
      names.push(name);
      const next = url[end + 1];
      const stop = next && next !== '/' ? next.replace(/[\\\]^-]/g, '\\$&') : '';
      source += `([^/${stop}]+)`;
      i = end + 1;
    } else {
      source += url[i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i++;
    }
  }
  return { pattern: new RegExp(source + '$'), names };
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
      .filter((e) => e.method === m && e.pattern)
      .flatMap((e) => {
        const found = e.pattern!.exec(path);
        return found ? [{ endpoint: e, params: Object.fromEntries(e.names.map((n, i) => [n, found[i + 1]])) }] : [];
      });
  };
  const here = candidates(method);
  if (here.length === 1) return here[0];
  if (here.length > 1) {
    return { status: 500, code: 'InternalError', message: `Multiple potential matches for path: ${path}\n${here.map((h) => h.endpoint.url).join('\n')}` };
  }
  const allow = [...new Set(endpoints.map((e) => e.method))].filter((m) => candidates(m).length > 0).sort();
  if (allow.length) {
    if (method === 'OPTIONS') return { status: 204, allow, code: '', message: '' };
    return { status: 405, allow, code: 'UnsupportedHttpVerb', message: `Allowed methods for '${path}' are: ${allow.join(', ')}.` };
  }
  return { status: 404, code: 'ResourceNotFound', message: `Unknown path: ${path}.` };
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
