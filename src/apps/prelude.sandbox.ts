// The `ccf` global of CCF's JavaScript runtime, built inside the isolate over host callbacks. This file
// runs in the sandbox, never in the node: `npm run build` bundles it (scripts/build-sandbox.mjs) into
// the script the sandbox boundary runs with the request's host functions in scope as `H` (boundary.ts);
// they are bound to the request's transaction and permissions on the host side (service.ts).
// What each function does and the errors it throws follow CCF's src/js/extensions/ (Apache-2.0).
import type { CCF, HistoricalState } from '@microsoft/ccf-app/global.js';
import { argc, type ConverterHost, converters, cryptoAliases, type HostFn, hostFunctions, installConsole, isBuf, type KvCall, makeCrypto, makeKv } from '../sandbox/guest/ccf-common.sandbox.js';

/** The host functions, by name with their `__h_` prefix (service.ts). */
declare const H: Record<string, HostFn>;

/** `ccf` as CCF 7 has it beyond `@microsoft/ccf-app` 6's `CCF` interface. */
interface CcfBeyondTheInterface {
  pemToId(pem: string): string;
  gov: { validateConstitution(constitution: string): void };
}

const host = hostFunctions(H, '__h_');

const boolArg = (args: unknown[], message = 'Argument must be a boolean') => {
  argc(args, 1);
  if (typeof args[0] !== 'boolean') throw new TypeError(message);
  return args[0];
};

// Math.random from the host's CSPRNG, as CCF's MathRandomExtension (src/js/extensions/math/random.cpp).
Math.random = () => host.random!() as number;

// Date: CCF 7 (7.0.0-dev2 on, "Remove enclave_time", #7153) reads the clock for `Date.now()` and
// `new Date()` as any JavaScript runtime does; V8's own Date does that already, so nothing replaces it.

installConsole((level, text) => void host.log!(level, text));

const convert = converters(host as unknown as ConverterHost);
const { strToBuf, bufToStr } = convert;
const crypto = makeCrypto(host.crypto!);

let metrics = true;
const historicalNow = host.historical ? (host.historical() as { transactionId: string; receipt: HistoricalState['receipt'] } | null) : null;

const ccf = {
  ...convert,
  enableMetricsLogging: (...a: unknown[]) => {
    const previous = metrics;
    metrics = boolArg(a, 'First argument must be a boolean');
    host.rpc!('metrics', metrics);
    return previous;
  },
  // CCF 7 keeps the function (deprecated) but it no longer changes anything: it returns its argument as a boolean.
  enableUntrustedDateTime: (...a: unknown[]) => {
    argc(a, 1);
    return Boolean(a[0]);
  },
  kv: makeKv(host.kv as KvCall, true),
  rpc: {
    setApplyWrites: (...a: unknown[]) => void host.rpc!('applyWrites', boolArg(a)),
    setClaimsDigest: (...a: unknown[]) => {
      argc(a, 1);
      if (!isBuf(a[0]) || a[0].byteLength !== 32) throw new TypeError('Argument must be an ArrayBuffer of 32 bytes');
      host.rpc!('claims', a[0]);
    },
  },
  crypto,
  consensus: {
    getLastCommittedTxId: () => host.consensus!('last'),
    getStatusForTxId: (view: number, seqno: number) => host.consensus!('status', view, seqno),
    getViewForSeqno: (seqno: number) => host.consensus!('view', seqno),
  },
  historical: {
    getStateRange: (...a: unknown[]): HistoricalState[] | null => {
      argc(a, 4);
      const [handle, start, end, seconds] = a;
      if (typeof handle !== 'number' || !Number.isInteger(start) || !Number.isInteger(end) || typeof seconds !== 'number') {
        throw new TypeError('getStateRange(handle: number, startSeqno: number, endSeqno: number, secondsUntilExpiry: number)');
      }
      const states = host.range!(handle, start, end) as Array<{ seqno: number; transactionId: string; receipt: HistoricalState['receipt'] }> | null;
      if (states === null) return null;
      return states.map((st) => ({ transactionId: st.transactionId, receipt: st.receipt, kv: makeKv((table, method, ...args) => host.rangeKv!(st.seqno, table, method, ...args), true) }));
    },
    dropCachedStates: (...a: unknown[]) => {
      argc(a, 1);
      return host.range!(a[0], 0, -1) !== false;
    },
  },
  historicalState: historicalNow ? { transactionId: historicalNow.transactionId, receipt: historicalNow.receipt, kv: makeKv(host.hkv as KvCall, true) } : undefined,
  gov: {
    validateConstitution: () => {
      throw new Error('ccf.gov.validateConstitution is available in governance only');
    },
  },
  ...cryptoAliases(crypto),
} satisfies CCF & CcfBeyondTheInterface;
if (!historicalNow) delete (ccf as { historicalState?: unknown }).historicalState;
(globalThis as { ccf?: unknown }).ccf = ccf;

// Tessera extensions (not in CCF): TextEncoder and TextDecoder for UTF-8.
(globalThis as Record<string, unknown>).TextEncoder = class TextEncoder {
  get encoding() {
    return 'utf-8';
  }
  encode(s = '') {
    return new Uint8Array(host.strToBuf!(String(s)));
  }
};
(globalThis as Record<string, unknown>).TextDecoder = class TextDecoder {
  get encoding() {
    return 'utf-8';
  }
  decode(b?: ArrayBuffer | ArrayBufferView) {
    if (b === undefined) return '';
    const buf = b instanceof ArrayBuffer ? b : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    return host.bufToStr!(buf);
  }
};

// The request's way in (CCF src/js/registry.cpp, do_execute_request): the wrapper module of each
// endpoint (prelude.ts, dispatchModule) calls this with the handler's module namespace. It turns the
// handler's return value into what the host answers with, as CCF does: body type sets the content
// type, `statusCode` must be an integer. A handler that returns a promise (an async function) is
// awaited, which CCF's QuickJS runtime does not do (it never runs the job queue): see docs/ccf-apps.md.
type Outcome =
  | { failure: 'no_export' | 'not_object' | 'status_type' | 'json' }
  | { failure: 'exception'; message: string; trace: string }
  | { statusCode: number; body: ArrayBuffer | null; contentType: string | null; headers: Record<string, string> };

const exception = (e: unknown): Outcome => {
  const err = e as { name?: unknown; message?: unknown; stack?: unknown } | null;
  const overflow = e instanceof RangeError && /call stack/.test(String(e.message));
  const message = overflow ? 'InternalError: stack overflow' : String(err && err.name ? `${String(err.name)}: ${String(err.message)}` : e);
  return { failure: 'exception', message, trace: err && err.stack ? String(err.stack).split('\n').slice(1).join('\n') : '' };
};

function outcome(result: unknown): Outcome {
  if (result === null || typeof result !== 'object') return { failure: 'not_object' };
  const r = result as { statusCode?: unknown; body?: unknown; headers?: Record<string, unknown> };
  let statusCode = r.statusCode;
  if (statusCode === undefined || statusCode === null) statusCode = 200;
  else if (!Number.isInteger(statusCode)) return { failure: 'status_type' };
  let body: ArrayBuffer | null = null;
  let contentType: string | null = null;
  const b = r.body;
  if (b instanceof ArrayBuffer) {
    body = b;
    contentType = 'application/octet-stream';
  } else if (ArrayBuffer.isView(b)) {
    body = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    contentType = 'application/octet-stream';
  } else if (typeof b === 'string') {
    body = strToBuf(b);
    contentType = 'text/plain';
  } else if (b !== undefined) {
    let s: string | undefined;
    try {
      s = JSON.stringify(b);
    } catch {
      return { failure: 'json' };
    }
    body = strToBuf(String(s));
    contentType = 'application/json';
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers || {})) headers[k.toLowerCase()] = String(v);
  return { statusCode: statusCode as number, body, contentType, headers };
}

function dispatch(namespace: Record<string, unknown>, exportName: string, req: Record<string, unknown>, bodyBuf: ArrayBuffer): Outcome | Promise<Outcome> {
  let active = true;
  const live = () => {
    if (!active) throw new Error('the request is no longer active');
  };
  const text = () => {
    live();
    return bufToStr(bodyBuf);
  };
  const request = { ...req, body: { text, json: () => JSON.parse(text()), arrayBuffer: () => (live(), bodyBuf.slice(0)) } };
  const fn = namespace[exportName];
  if (typeof fn !== 'function') return { failure: 'no_export' };
  let result: unknown;
  try {
    result = fn(request);
  } catch (e) {
    active = false;
    return exception(e);
  }
  if (result instanceof Promise) {
    return result.then(
      (r) => ((active = false), outcome(r)),
      (e) => ((active = false), exception(e)),
    );
  }
  active = false;
  return outcome(result);
}
Object.defineProperty(globalThis, '__tessera_dispatch', { value: dispatch });
