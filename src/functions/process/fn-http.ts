import { type FnResponse, type Headers, canonicalKey, first, fnError, stripHop } from '../../sandbox/process/fn-protocol.js';

// How Fn shapes a call's headers on its two ways in (fnproject/fn api/server/runner_fninvoke.go and
// runner_httptrigger.go), with one difference: the caller's Tessera credentials (Authorization, the
// bearer token) never reach a function. Fn has no authentication of its own, so it passes that header on.

/** Headers the node itself consumes or sets, never passed to a function. */
const NODE_ONLY = new Set(['host', 'authorization', 'content-length', 'fn-invoke-type']);

/** /invoke: the client's headers, hop-by-hop and node-only ones removed. */
export function requestHeaders(headers: Headers): Headers {
  return Object.fromEntries(Object.entries(stripHop(headers)).filter(([k]) => !NODE_ONLY.has(k.toLowerCase())));
}

/** /invoke: the function's headers as they are, each value its own line; the node sets the length. */
export function responseHeaders(headers: Headers): Headers {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'content-length'));
}

/** A trigger: Content-Type as it is, every other header as Fn-Http-H-<Canonical-Key>, plus the request line. */
export function triggerRequestHeaders(method: string, url: string, headers: Headers): Headers {
  const out: Headers = {};
  for (const [k, vs] of Object.entries(stripHop(headers))) {
    const lower = k.toLowerCase();
    if (lower === 'host' || lower === 'authorization') continue;
    if (lower === 'content-type') out['Content-Type'] = vs;
    else out[`Fn-Http-H-${canonicalKey(k)}`] = vs;
  }
  out['Fn-Http-Method'] = [method];
  out['Fn-Http-Request-Url'] = [url];
  out['Fn-Intent'] = ['httprequest'];
  return out;
}

/**
 * A trigger's answer: the status from Fn-Http-Status (an error of the node's own wins), and only the
 * de-prefixed Fn-Http-H-* headers, Content-Type and Fn-Call-Id; every other header of the FDK's goes.
 * De-prefixed names that frame or manage the node's own connection to its client (the hop-by-hop list,
 * Content-Length) go too: Go's server re-frames whatever Fn passes, while Node would send a function's
 * Trailer or Transfer-Encoding as they are (a Trailer with a length is a 500 from Node).
 */
export function triggerResponse(r: FnResponse): FnResponse {
  if (r.status >= 400) return r;
  const mapped: Headers = {};
  for (const [k, vs] of Object.entries(r.headers)) {
    const lower = k.toLowerCase();
    if (lower.startsWith('fn-http-h-') && k.length > 'fn-http-h-'.length) mapped[k.slice('fn-http-h-'.length)] = vs;
    else if (lower === 'content-type' || lower === 'fn-call-id') mapped[lower] = vs;
  }
  const out = Object.fromEntries(Object.entries(stripHop(mapped)).filter(([k]) => k.toLowerCase() !== 'content-length' && k.toLowerCase() !== 'te'));
  // Fn reads the status with strconv.Atoi, which takes an optional sign and digits only ('201x' is
  // ignored, not 201). Go's server sends a 1xx other than 101 as an informational answer and the body
  // then goes with 200; Node would send it as the final status and leave the client waiting, so a
  // 1xx here is 200 (the informational part cannot be sent ahead of a buffered answer).
  const raw = first(r.headers, 'fn-http-status') ?? '';
  const user = /^[+-]?\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  return { status: user >= 200 && user <= 999 ? user : r.status === 202 ? 202 : 200, headers: out, body: r.body };
}

export { fnError };
