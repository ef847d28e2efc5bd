import assert from 'node:assert/strict';
import type { TestNode } from './cli.js';
import { https } from './https-client.js';

/** A JS workflow function: code inline, as `tessera workflow start` inlines it. */
export const jsFunction = (name: string, source: string, outputs: Record<string, string> = {}, annotations: Record<string, string> = {}) => ({
  name,
  class_specification: { id: name, function_type: 'JS', version: '0.1', binary: Buffer.from(source).toString('base64'), outputs: Object.keys(outputs) },
  output_mapping: outputs,
  annotations,
});

export const ingress = (target: string, configurations: Record<string, string> = {}) => ({ name: 'ingress', class_type: 'http-ingress', output_mapping: { new_request: target }, configurations });

/** JS helper source: reply to an ingress call with a text body. */
export const HTTP_REPLY = 'const reply = (status, text) => JSON.stringify({ status, headers: { "content-type": "text/plain" }, body: Array.from(new TextEncoderLite().encode(text)) }); class TextEncoderLite { encode(s) { return Array.from(unescape(encodeURIComponent(s)), (c) => c.charCodeAt(0)); } }';

/** REST and ingress as one user (alice unless told). */
export function workflowClient(node: TestNode, user = 'alice') {
  const id = { ...node.identity(user), ca: node.ca };
  const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
  return {
    start: (spec: unknown, name?: string) => https(url('/v1/workflows'), id, { method: 'POST', json: { spec, ...(name ? { name } : {}) } }),
    stop: (wid: string) => https(url(`/v1/workflows/${wid}`), id, { method: 'DELETE' }),
    inspect: (wid: string) => https(url(`/v1/workflows/${wid}`), id),
    list: () => https(url('/v1/workflows'), id),
    /** What a file-log resource of the workflow `name` wrote to `file`. */
    file: (name: string, file: string) => https(url(`/v1/workflow-files/${encodeURIComponent(name)}/${file}`), id),
    ingress: (path: string, body?: string) => https(url(`/ingress${path}`), id, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : Buffer.from(body) }),
    /** An ingress request with a chosen Host header (routes match on it), method and body. */
    ingressAt: (host: string, path: string, opts: { method?: string; body?: string; headers?: Record<string, string> } = {}) =>
      https(url(`/ingress${path}`), id, { method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'), body: opts.body === undefined ? undefined : Buffer.from(opts.body), headers: { host, ...(opts.headers ?? {}) } }),
    /** POST /v1/workflows with a raw JSON body (for bodies JSON.stringify cannot make). */
    startRaw: (body: string) => https(url('/v1/workflows'), id, { method: 'POST', body: Buffer.from(body), headers: { 'content-type': 'application/json' } }),
    async until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
      for (let i = 0; i < 200; i++) {
        const v = await probe();
        if (v !== undefined) return v;
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.fail(`timed out waiting for ${what}`);
    },
  };
}
