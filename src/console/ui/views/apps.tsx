import { Fragment } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get, gov, headers as authHeaders } from '../api.js';
import { Empty, ErrorBox, Section, Show, Table, useLoad } from '../components.js';
import type { ViewProps } from '../main.js';

// Apps: the CCF JavaScript app deployed by governance (set_js_app). Its endpoints with their auth policies
// come from GET /gov/service/javascript-app (src/http/routes/gov.ts: camelCase keys by default), its
// OpenAPI document from GET /app/api (src/apps/endpoints.ts openApiDocument), and a request runner sends
// any request to this node with the browser's certificate and the user's bearer token.

interface EndpointInfo {
  jsModule?: string;
  jsFunction?: string;
  authnPolicies?: Array<string | { all_of: string[] }>;
  mode?: string;
  forwardingRequired?: string;
  openapiHidden?: boolean;
  interpreterReuse?: { key: string };
  openApi?: Record<string, unknown>;
}
type Endpoints = Record<string, Record<string, EndpointInfo>>;

interface OpenApiOperation {
  summary?: string;
  description?: string;
  operationId?: string;
  parameters?: Array<{ name: string; in: string; required?: boolean; description?: string; schema?: unknown }>;
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}
interface OpenApiDoc {
  info?: { title?: string; version?: string; description?: string };
  paths?: Record<string, Record<string, OpenApiOperation>>;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

const policyText = (p: string | { all_of: string[] }) => (typeof p === 'string' ? p : `all of (${p.all_of.join(' + ')})`);
const compact = (v: unknown) => JSON.stringify(v);

/** What the runner prefills: the app's own path under /app, its {parameters} left for the user to fill in. */
export type Prefill = { method: string; path: string; n: number };

function EndpointTable({ endpoints, onTry }: { endpoints: Endpoints; onTry: (method: string, path: string) => void }) {
  const rows = Object.entries(endpoints)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([path, byMethod]) => Object.entries(byMethod).map(([method, info]) => ({ path, method, info })));
  return (
    <table>
      <caption class="empty">
        {rows.length} endpoint{rows.length === 1 ? '' : 's'}, served under /app
      </caption>
      <thead>
        <tr>
          <th scope="col">Method</th>
          <th scope="col">Path</th>
          <th scope="col">Authentication</th>
          <th scope="col">Mode</th>
          <th scope="col">Forwarding</th>
          <th scope="col">Handler</th>
          <th scope="col">Try it</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ path, method, info }) => (
          <tr key={`${method} ${path}`}>
            <td>
              <span class="badge">{method}</span>
            </td>
            <th scope="row" class="mono">
              /app{path}
            </th>
            <td>
              {(info.authnPolicies ?? []).length === 0 ? (
                <span class="bad">none listed</span>
              ) : (
                (info.authnPolicies ?? []).map((p, i) => (
                  <span key={i} class={`badge${p === 'no_auth' ? ' bad' : ''}`} title={p === 'no_auth' ? 'anyone may call this endpoint' : undefined}>
                    {policyText(p)}
                  </span>
                ))
              )}
            </td>
            <td>{info.mode ?? '—'}</td>
            <td>{info.forwardingRequired ?? '—'}</td>
            <td class="mono">
              {info.jsModule}:{info.jsFunction}
              {info.interpreterReuse ? <div>reuse key {info.interpreterReuse.key}</div> : null}
              {info.openapiHidden ? <div>(hidden from /app/api)</div> : null}
            </td>
            <td>
              <button type="button" aria-label={`Try ${method} /app${path} in the request runner`} onClick={() => onTry(method, `/app${path}`)}>
                Try
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Schema({ label, value }: { label: string; value: unknown }) {
  if (value === undefined) return null;
  return (
    <div>
      <span>{label}: </span>
      <code class="mono">{compact(value)}</code>
    </div>
  );
}

function OpenApiView({ doc, onTry }: { doc: OpenApiDoc; onTry: (method: string, path: string) => void }) {
  const paths = Object.entries(doc.paths ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <>
      <p>
        <strong>{doc.info?.title ?? 'Untitled app'}</strong> {doc.info?.version ? <span class="badge">version {doc.info.version}</span> : null}
        {doc.info?.description ? <span> — {doc.info.description}</span> : null}
      </p>
      {paths.length === 0 ? <Empty>The OpenAPI document lists no paths (every endpoint may be hidden with openapi_hidden).</Empty> : null}
      {paths.map(([path, ops]) => (
        <article key={path} class="api-path">
          <h3 class="mono">{path}</h3>
          {Object.entries(ops).map(([method, op]) => (
            <div key={method} class="api-op">
              <p>
                <span class="badge">{method.toUpperCase()}</span> <strong>{op.summary ?? op.operationId ?? '(no summary)'}</strong>{' '}
                <button type="button" aria-label={`Try ${method.toUpperCase()} ${path} in the request runner`} onClick={() => onTry(method.toUpperCase(), path)}>
                  Try
                </button>
              </p>
              {op.description ? <p>{op.description}</p> : null}
              {op.parameters?.length ? (
                <Table head={['Parameter', 'In', 'Required', 'Schema']}>
                    {op.parameters.map((p) => (
                      <tr key={`${p.in}:${p.name}`}>
                        <th scope="row" class="mono">
                          {p.name}
                        </th>
                        <td>{p.in}</td>
                        <td>{p.required ? 'yes' : 'no'}</td>
                        <td class="mono">
                          {p.schema !== undefined ? compact(p.schema) : '—'}
                          {p.description ? <div>{p.description}</div> : null}
                        </td>
                      </tr>
                    ))}
                  </Table>
              ) : null}
              {Object.entries(op.requestBody?.content ?? {}).map(([type, c]) => (
                <Schema key={type} label={`Request body (${type})`} value={c.schema ?? {}} />
              ))}
              {Object.entries(op.responses ?? {}).map(([status, r]) => (
                <div key={status}>
                  <span>
                    Response <strong>{status}</strong>
                    {r.description ? ` — ${r.description}` : ''}
                  </span>
                  {Object.entries(r.content ?? {}).map(([type, c]) => (
                    <Schema key={type} label={type} value={c.schema ?? {}} />
                  ))}
                </div>
              ))}
            </div>
          ))}
        </article>
      ))}
    </>
  );
}

interface RunResult {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: string;
  pretty: boolean;
  ms: number;
}

/** `name: value` per line; a line without a colon is an error naming it. */
export function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`header line ${i + 1} ('${line.trim()}') is not 'name: value'`);
    out[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  });
  return out;
}

function Runner({ prefill }: { prefill: Prefill | null }) {
  const [method, setMethod] = useState('GET');
  const [path, setPath] = useState('/app/');
  const [hdrs, setHdrs] = useState('');
  const [body, setBody] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<RunResult | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const pathInput = useRef<HTMLInputElement>(null);
  // A click on "Try" fills the form in (once per click) and moves the keyboard focus to the path.
  useEffect(() => {
    if (!prefill) return;
    setMethod(prefill.method);
    setPath(prefill.path);
    pathInput.current?.focus();
  }, [prefill?.n]);
  const send = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setResult(null);
    let extra: Record<string, string>;
    try {
      extra = parseHeaders(hdrs);
      if (!path.startsWith('/')) throw new Error("the path must start with '/' (requests go to this node only)");
    } catch (err) {
      return setError(err as Error);
    }
    const hasBody = body !== '' && method !== 'GET' && method !== 'HEAD';
    if (hasBody && !Object.keys(extra).some((k) => k.toLowerCase() === 'content-type')) {
      extra['content-type'] = /^\s*[[{"]/.test(body) ? 'application/json' : 'text/plain';
    }
    setBusy(true);
    const started = performance.now();
    try {
      // fetch directly (not api.ts request): a non-2xx answer is a result to show, not an error to throw.
      const res = await fetch(path, { method, headers: authHeaders(extra), body: hasBody ? body : undefined, credentials: 'same-origin' });
      const text = await res.text();
      const ms = performance.now() - started;
      let shown = text;
      let pretty = false;
      if ((res.headers.get('content-type') ?? '').includes('json') || /^\s*[[{]/.test(text)) {
        try {
          shown = JSON.stringify(JSON.parse(text), null, 2);
          pretty = true;
        } catch {
          // Not JSON after all: show the text as it came.
        }
      }
      setResult({ status: res.status, statusText: res.statusText, headers: [...res.headers.entries()], body: shown, pretty, ms });
    } catch (err) {
      setError(new ApiError(`the node did not answer ${method} ${path}: ${(err as Error).message}`, 0, 'Unreachable'));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={send} aria-describedby="runner-help">
      <p id="runner-help" class="empty">
        Requests go to this node with this browser's certificate and your bearer token (if signed in).
      </p>
      <div class="runner-line">
        <label>
          Method
          <select name="method" value={method} onChange={(e) => setMethod((e.target as HTMLSelectElement).value)}>
            {METHODS.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <label class="runner-path">
          Path
          <input ref={pathInput} name="path" class="mono" value={path} onInput={(e) => setPath((e.target as HTMLInputElement).value)} spellcheck={false} autocomplete="off" />
        </label>
      </div>
      <label>
        Headers (one per line, <code>name: value</code>)
        <textarea name="headers" rows={3} value={hdrs} onInput={(e) => setHdrs((e.target as HTMLTextAreaElement).value)} spellcheck={false} />
      </label>
      <label>
        Body
        <textarea name="body" rows={5} value={body} onInput={(e) => setBody((e.target as HTMLTextAreaElement).value)} spellcheck={false} disabled={method === 'GET' || method === 'HEAD'} />
      </label>
      <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
        {busy ? 'Sending…' : 'Send'}
      </button>
      {error ? <ErrorBox error={error} title="Not sent" /> : null}
      <div aria-live="polite">
        {result ? (
          <div class="runner-result">
            <p>
              <span class={result.status < 400 ? 'ok' : 'bad'}>
                {result.status} {result.statusText}
              </span>{' '}
              in {result.ms.toFixed(0)} ms
            </p>
            <details>
              <summary>Response headers ({result.headers.length})</summary>
              <dl class="facts">
                {result.headers.map(([k, v]) => (
                  <Fragment key={k}>
                    <dt class="mono">{k}</dt>
                    <dd class="mono">{v}</dd>
                  </Fragment>
                ))}
              </dl>
            </details>
            <pre aria-label={`response body${result.pretty ? ' (JSON, pretty-printed)' : ''}`}>{result.body || '(empty body)'}</pre>
          </div>
        ) : null}
      </div>
    </form>
  );
}

export default function AppsView(_props: ViewProps) {
  const endpoints = useLoad(() => get<{ endpoints: Endpoints }>(gov('/gov/service/javascript-app')).then((r) => r.endpoints ?? {}), []);
  const api = useLoad(() => get<OpenApiDoc>('/app/api'), []);
  const [prefill, setPrefill] = useState<Prefill | null>(null);
  const runner = useRef<HTMLDivElement>(null);
  const onTry = (method: string, path: string) => {
    setPrefill((p) => ({ method, path, n: (p?.n ?? 0) + 1 }));
    runner.current?.scrollIntoView({ behavior: 'smooth', block: 'start' });
  };
  const deployed = endpoints.state === 'ready' && Object.keys(endpoints.data).length > 0;
  return (
    <>
      <Section
        title="Endpoints"
        actions={
          <button
            type="button"
            onClick={() => {
              endpoints.reload();
              api.reload();
            }}
          >
            Refresh
          </button>
        }
      >
        <Show loaded={endpoints} what="the app's endpoints">
          {(eps) =>
            Object.keys(eps).length === 0 ? (
              <Empty>
                No app is deployed on this node. Members deploy one with a <code>set_js_app</code> proposal: in the <a href="#/governance">Governance</a> view, or from a shell with{' '}
                <code>tessera app deploy &lt;bundle&gt;</code> (docs/ccf-apps.md).
              </Empty>
            ) : (
              <EndpointTable endpoints={eps} onTry={onTry} />
            )
          }
        </Show>
      </Section>
      {endpoints.state !== 'ready' || deployed ? (
        <Section title="API description (GET /app/api)">
          <Show loaded={api} what="the app's OpenAPI document">
            {(doc) => <OpenApiView doc={doc} onTry={onTry} />}
          </Show>
        </Section>
      ) : null}
      <div ref={runner}>
        <Section title="Request runner">
          <Runner prefill={prefill} />
        </Section>
      </div>
    </>
  );
}
