import type { CallRet } from '../instance.js';
import type { ResourceClass, ResourceContext, ResourceInstance } from './types.js';
import { ERR } from './types.js';

/**
 * http-egress: a call with an EdgelessHTTPRequest performs it (only to hosts in workflows.egress_hosts) and
 * replies with an EdgelessHTTPResponse; casts are ignored, as in EDGELESS. The URL is built by the URL
 * parser from the protocol, the host and a path that starts with '/', and its parsed hostname and port
 * must be exactly an allowed one; redirects are handed back, not followed. The request is the node's
 * asynchronous `fetch`: the calling guest's isolate thread waits (as for any call), the node's event loop does not.
 */
export const httpEgress: ResourceClass = {
  classType: 'http-egress',
  unavailable: () => null,
  start: async (ctx: ResourceContext): Promise<ResourceInstance> => {
    const allowed = allowedHosts(ctx.settings.egressHosts);
    return {
      cast: () => {},
      call: async (payload: string): Promise<CallRet> => {
        let request: { method: string; protocol?: string; host: string; path: string; body?: number[] | null; headers?: Record<string, string> };
        try {
          request = JSON.parse(payload);
        } catch {
          return ERR;
        }
        const url = egressUrl(request, allowed);
        if (typeof url === 'string') {
          ctx.logger.warn({ host: String(request?.host).slice(0, 200), path: String(request?.path).slice(0, 200), why: url }, 'http-egress refused: Err');
          return ERR;
        }
        try {
          const res = await fetch(url, { method: String(request.method).toUpperCase(), headers: request.headers ?? {}, body: request.body ? Buffer.from(request.body) : undefined, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
          const body = Buffer.from(await res.arrayBuffer());
          const data = Buffer.from(JSON.stringify({ status: res.status, headers: Object.fromEntries(res.headers), body: [...body] }));
          return { type: 1, data: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer };
        } catch (err) {
          ctx.logger.warn({ url: url.href, err: (err as Error).message }, 'http-egress request failed: Err');
          return ERR;
        }
      },
    };
  },
};

export type AllowedHost = { hostname: string; port: number | null };

/** workflows.egress_hosts parsed; entries that are not a host or host:port are left out. */
export const allowedHosts = (entries: string[]): AllowedHost[] => entries.map(parseAllowed).filter((a) => a !== null);

/** Whether a URL's host and port are allowed (a null port in an entry means the protocol's default). */
export function hostAllowed(url: URL, allowed: AllowedHost[]): boolean {
  const port = url.port ? Number(url.port) : null;
  const https = url.protocol === 'https:';
  return allowed.some((a) => a.hostname === url.hostname && (a.port === port || (a.port !== null && port === null && a.port === (https ? 443 : 80))));
}

/** An entry of workflows.egress_hosts ('host' or 'host:port'); port null means the protocol's default port. */
function parseAllowed(entry: string): { hostname: string; port: number | null } | null {
  try {
    const u = new URL(`http://${entry}`);
    if (u.host !== entry.toLowerCase() && u.hostname !== entry.toLowerCase() && `${u.hostname}:80` !== entry.toLowerCase()) return null;
    return { hostname: u.hostname, port: /:[0-9]+$/.test(entry) ? Number(entry.slice(entry.lastIndexOf(':') + 1)) : null };
  } catch {
    return null;
  }
}

/** The URL an egress request may fetch, or why it may not. */
export function egressUrl(request: { protocol?: string; host?: unknown; path?: unknown; method?: unknown }, allowed: Array<{ hostname: string; port: number | null }>): URL | string {
  if (!request || typeof request !== 'object') return 'not an EdgelessHTTPRequest';
  const { host, path } = request;
  if (typeof host !== 'string' || typeof path !== 'string' || typeof request.method !== 'string') return 'host, path and method must be strings';
  if (!path.startsWith('/')) return "the path must start with '/'";
  const https = request.protocol === 'HTTPS';
  if (request.protocol !== undefined && request.protocol !== 'HTTP' && !https) return 'the protocol must be HTTP or HTTPS';
  let base: URL;
  let url: URL;
  try {
    base = new URL(`${https ? 'https' : 'http'}://${host}`);
    url = new URL(`${base.origin}${path}`);
  } catch {
    return 'not a valid URL';
  }
  if (base.username || base.password || base.pathname !== '/' || base.search || base.hash) return 'the host must be a host name and an optional port only';
  if (url.origin !== base.origin || url.username || url.password) return 'the path must stay on the host';
  return hostAllowed(url, allowed) ? url : `host ${url.host} is not in workflows.egress_hosts`;
}
