// Every request the console makes goes through here: same origin only, the user's bearer token added, and
// the node's error JSON ({ error: { code, message } }) turned into an ApiError whose message a person can act on.

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

let bearer: string | null = sessionStorage.getItem('tessera.token');

/** The user's bearer token, kept for this tab only (sessionStorage): closing the tab forgets it. */
export function setToken(token: string | null) {
  bearer = token;
  if (token) sessionStorage.setItem('tessera.token', token);
  else sessionStorage.removeItem('tessera.token');
}
export const hasToken = () => bearer !== null;

/** What to do about an error, added to the node's own words where the fix is on the user's side. */
function advice(status: number, code: string, message: string): string {
  if (status === 401 && /client certificate/.test(message))
    return `${message}. Install your identity's certificate in this browser (docs/console.md, "Signing in"), then reload.`;
  if (status === 401) return `${message}. Check the token you signed in with (the file 'token' in your identity folder).`;
  if (status === 0) return message;
  if (status >= 500 && code === 'InternalError') return `${message} (the node failed; nothing you sent is at fault)`;
  return message;
}

export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let code = `HTTP${res.status}`;
  let message = text.trim() || res.statusText || `HTTP ${res.status}`;
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message) {
      message = body.error.message;
      code = body.error.code ?? code;
    }
  } catch {
    // Not JSON: keep the text.
  }
  return new ApiError(advice(res.status, code, message), res.status, code);
}

export function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...extra };
}

/** A request to this node; throws ApiError for a failure, including the node going away (status 0). */
export async function request(method: string, path: string, init: { body?: BodyInit; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, { method, body: init.body, headers: headers(init.headers), signal: init.signal, credentials: 'same-origin' });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(`the node did not answer ${method} ${path}: ${(err as Error).message} (is it running, and is its CA trusted by this browser?)`, 0, 'Unreachable');
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

export async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await request(method, path, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string) => json<T>('GET', path);

/** CCF's /gov API wants an api-version on each call. */
export const GOV_API = 'api-version=2024-07-01';
export const gov = (path: string) => `${path}${path.includes('?') ? '&' : '?'}${GOV_API}`;

/** The path of an access_path URL: the console talks to its own origin, whatever host name the node printed. */
export const pathOf = (url: string) => {
  const u = new URL(url, location.origin);
  return u.pathname + u.search;
};
