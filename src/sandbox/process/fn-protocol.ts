// The pieces of Fn's wire behaviour shared by the process engine and the Fn service (facts from
// fnproject/fn: api/common/io_utils.go, api/server/error_response.go, api/models/error.go).

/** Headers with more than one value keep each as its own line, as Go's http.Header does. */
export type Headers = Record<string, string[]>;

export interface FnResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

/**
 * Hop-by-hop headers, never passed between a client and a function in either direction (Fn's
 * StripHopHeaders: Go's reverse-proxy list, which keeps `Te: trailers`).
 */
const HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export function stripHop(headers: Headers): Headers {
  const out: Headers = {};
  for (const [k, vs] of Object.entries(headers)) {
    const lower = k.toLowerCase();
    if (!HOP.has(lower)) out[k] = vs;
    else if (lower === 'te' && vs.some((v) => v === 'trailers')) out[k] = ['trailers'];
  }
  return out;
}

/** Fn's error body: `{"message":"..."}` and a newline (Go's json.Encoder), as JSON in UTF-8. */
export const fnError = (status: number, message: string, extra: Headers = {}): FnResponse => ({
  status,
  headers: { 'content-type': ['application/json; charset=utf-8'], ...extra },
  body: Buffer.from(`${JSON.stringify({ message })}\n`),
});

/** Go's canonical header key: each dash-separated part capitalised (x-foo-bar → X-Foo-Bar). */
export const canonicalKey = (k: string) => k.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase()).join('-');

/** A raw header list (name, value, name, value…) as multi-valued headers, names lower-cased. */
export function fromRaw(raw: string[]): Headers {
  const out: Headers = {};
  for (let i = 0; i + 1 < raw.length; i += 2) (out[raw[i].toLowerCase()] ??= []).push(raw[i + 1]);
  return out;
}

/** The first value of a header, by any case. */
export const first = (headers: Headers, name: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1]?.[0];
