import { TesseraError } from '../../errors/index.js';
import { allowedHosts, hostAllowed } from './http-egress.js';
import type { ResourceClass, ResourceContext } from './types.js';
import { NO_REPLY } from './types.js';

/** Posts not yet sent that one resource holds; past it a cast is dropped with a warning (EDGELESS holds any number). */
const MAX_PENDING = 1000;

/**
 * A URL that reaches only what the operator allowed: http or https, no credentials, its host and port an
 * entry of workflows.egress_hosts. `what` names the resource and key in the error.
 */
export function egressTarget(ctx: ResourceContext, text: string | undefined, what: string): URL {
  let url: URL;
  try {
    url = new URL(text ?? '');
  } catch (err) {
    throw new TesseraError('invalid_input', `${what} '${text ?? ''}' is not a valid URL (${(err as Error).message})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TesseraError('invalid_input', `${what} '${text}' must be an http:// or https:// URL`);
  if (url.username || url.password) throw new TesseraError('invalid_input', `${what} '${url.host}' must not carry user information`);
  if (!hostAllowed(url, allowedHosts(ctx.settings.egressHosts))) throw new TesseraError('invalid_input', `${what}: host ${url.host} is not in the node's workflows.egress_hosts`);
  return url;
}

/** Strict standard base64 with padding (EDGELESS's base64 STANDARD engine); null when it is not. */
export function decodeBase64(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  return Buffer.from(text, 'base64');
}

/**
 * http-poster (EDGELESS resources/http_poster.rs, version 1.0): each cast is `POST <url>` with the payload as
 * the body (base64-decoded with `decode_base64=true`; bad base64 posts no body, as in EDGELESS), one after
 * the other in the order cast; the response is ignored and failures are logged. Unlike EDGELESS, the url's
 * host must be in workflows.egress_hosts, redirects are not followed, and a call gets NoReply at once
 * (EDGELESS never answers it).
 */
export const httpPoster: ResourceClass = {
  classType: 'http-poster',
  unavailable: () => null,
  start: async (ctx) => {
    const url = egressTarget(ctx, ctx.configurations.url, `resource '${ctx.name}' (http-poster): url`);
    const decode = (ctx.configurations.decode_base64 ?? 'false').toLowerCase() === 'true';
    let queue: Promise<void> = Promise.resolve();
    let pending = 0;
    let stopped = false;
    const post = async (payload: string) => {
      let body: Buffer | undefined = Buffer.from(payload, 'utf8');
      if (decode) {
        body = decodeBase64(payload) ?? undefined;
        if (!body) ctx.logger.warn({ workflow: ctx.workflowId, resource: ctx.name }, 'http-poster: invalid base64-encoded data received; posting no body');
      }
      try {
        const res = await fetch(url, { method: 'POST', body: body ? new Uint8Array(body) : undefined, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
      } catch (err) {
        ctx.logger.warn({ workflow: ctx.workflowId, resource: ctx.name, url: url.origin, err: (err as Error).message }, 'http-poster: error when posting');
      }
    };
    return {
      cast: (payload) => {
        if (stopped) return;
        if (pending >= MAX_PENDING) {
          ctx.logger.warn({ workflow: ctx.workflowId, resource: ctx.name }, `http-poster: ${MAX_PENDING} posts already pending; cast dropped`);
          return;
        }
        pending++;
        queue = queue.then(async () => {
          if (!stopped) await post(payload);
          pending--;
        });
      },
      call: () => NO_REPLY,
      stop: () => {
        stopped = true;
      },
    };
  },
};
