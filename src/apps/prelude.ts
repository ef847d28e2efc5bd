// The `ccf` global, built inside the isolate over host callbacks (`__h_*`, handed to this prelude as `H`
// by the sandbox boundary, never globals), which are bound to the request's transaction and permissions
// on the host side. Everything here runs in the sandbox.
export const CCF_PRELUDE = String.raw`
const hostFns = H;
(() => {
  const H = {};
  for (const k of Object.keys(hostFns)) if (k.startsWith('__h_')) H[k.slice(4)] = hostFns[k];
  const argc = (args, n, name) => { if (args.length !== n) throw new TypeError('Passed ' + args.length + ' arguments, but expected ' + n); };
  const isBuf = (b) => b instanceof ArrayBuffer;

  let untrustedTime = false;
  let metrics = true;
  const RealDate = Date;
  const now = () => (untrustedTime ? H.now() : 0);
  class CcfDate extends RealDate {
    constructor(...args) { if (args.length === 0) super(now()); else super(...args); }
    static now() { return now(); }
  }
  globalThis.Date = CcfDate;
  Math.random = () => H.random();

  const fmt = (args) => args.map((a) => (typeof a === 'string' ? a : (() => { try { return JSON.stringify(a); } catch { return String(a); } })())).join(' ');
  globalThis.console = {
    log: (...a) => H.log('info', fmt(a)), info: (...a) => H.log('info', fmt(a)), debug: (...a) => H.log('debug', fmt(a)),
    warn: (...a) => H.log('fail', fmt(a)), error: (...a) => H.log('fatal', fmt(a)),
  };

  const strToBuf = (...a) => { argc(a, 1); if (typeof a[0] !== 'string') throw new TypeError('Argument must be a string'); return H.strToBuf(a[0]); };
  const bufToStr = (...a) => { argc(a, 1); if (!isBuf(a[0])) throw new TypeError('Argument must be an ArrayBuffer'); return H.bufToStr(a[0]); };

  // Handles hold only the table name; each call goes to whatever transaction the host has bound now.
  const makeKv = (call) => {
    const kvMethod = (table, method, args, n) => {
      argc(args, n, method);
      for (const x of args) if (!isBuf(x)) throw new TypeError(method === 'set' ? 'Arguments must be ArrayBuffers' : 'Argument must be an ArrayBuffer');
      return call(table, method, ...args);
    };
    const mapFor = (table) => ({
      has: (...a) => kvMethod(table, 'has', a, 1),
      get: (...a) => kvMethod(table, 'get', a, 1),
      getVersionOfPreviousWrite: (...a) => kvMethod(table, 'version', a, 1),
      set(...a) { kvMethod(table, 'set', a, 2); return this; },
      delete: (...a) => { kvMethod(table, 'delete', a, 1); },
      clear: (...a) => { argc(a, 0); call(table, 'clear'); },
      forEach(cb) { const entries = call(table, 'entries'); for (const [k, v] of entries) cb(v, k, this); },
      get size() { return call(table, 'size'); },
      /** Tessera extension: entries in key order, optionally from (inclusive) and to (exclusive), as ArrayBuffer keys. */
      tesseraRange(from, to) { return call(table, 'entries', from ?? null, to ?? null); },
    });
    return new Proxy({}, { get: (_t, name) => (typeof name === 'string' ? mapFor(name) : undefined) });
  };
  const kv = makeKv(H.kv);

  const rpc = {
    setApplyWrites: (...a) => { argc(a, 1); if (typeof a[0] !== 'boolean') throw new TypeError('Argument must be a boolean'); H.rpc('applyWrites', a[0]); },
    setClaimsDigest: (...a) => { argc(a, 1); if (!isBuf(a[0]) || a[0].byteLength !== 32) throw new TypeError('Argument must be an ArrayBuffer of 32 bytes'); H.rpc('claims', a[0]); },
  };

  const cryptoFn = (name, n) => (...a) => { if (n !== undefined && a.length !== n) throw new TypeError('Passed ' + a.length + ' arguments, but expected ' + n); return H.crypto(name, ...a); };
  const crypto = {};
  for (const [name, n] of Object.entries({
    sign: 3, verifySignature: 4, digest: 2, generateAesKey: 1, generateRsaKeyPair: undefined, generateEcdsaKeyPair: 1, generateEddsaKeyPair: 1,
    wrapKey: 3, unwrapKey: 3, isValidX509CertBundle: 1, isValidX509CertChain: 2,
    pubPemToJwk: undefined, pemToJwk: undefined, pubRsaPemToJwk: undefined, rsaPemToJwk: undefined, pubEddsaPemToJwk: undefined, eddsaPemToJwk: undefined,
    pubJwkToPem: 1, jwkToPem: 1, pubRsaJwkToPem: 1, rsaJwkToPem: 1, pubEddsaJwkToPem: 1, eddsaJwkToPem: 1,
  })) crypto[name] = cryptoFn(name, n);

  globalThis.ccf = {
    strToBuf, bufToStr,
    jsonCompatibleToBuf: (...a) => { argc(a, 1); return strToBuf(JSON.stringify(a[0])); },
    bufToJsonCompatible: (...a) => { argc(a, 1); return JSON.parse(bufToStr(a[0])); },
    pemToId: (...a) => { argc(a, 1); return H.pemToId(a[0]); },
    enableMetricsLogging: (...a) => { argc(a, 1); if (typeof a[0] !== 'boolean') throw new TypeError('Argument must be a boolean'); const p = metrics; metrics = a[0]; H.rpc('metrics', metrics); return p; },
    enableUntrustedDateTime: (...a) => { argc(a, 1); if (typeof a[0] !== 'boolean') throw new TypeError('Argument must be a boolean'); const p = untrustedTime; untrustedTime = a[0]; return p; },
    kv, rpc, crypto,
    consensus: {
      getLastCommittedTxId: () => H.consensus('last'),
      getStatusForTxId: (view, seqno) => H.consensus('status', view, seqno),
      getViewForSeqno: (seqno) => H.consensus('view', seqno),
    },
    historical: {
      getStateRange: (...a) => {
        argc(a, 4);
        const [handle, start, end, seconds] = a;
        if (typeof handle !== 'number' || !Number.isInteger(start) || !Number.isInteger(end) || typeof seconds !== 'number') throw new TypeError('getStateRange(handle: number, startSeqno: number, endSeqno: number, secondsUntilExpiry: number)');
        const states = H.range(handle, start, end);
        if (states === null) return null;
        return states.map((st) => ({ transactionId: st.transactionId, receipt: st.receipt, kv: makeKv((table, method, ...args) => H.rangeKv(st.seqno, table, method, ...args)) }));
      },
      dropCachedStates: (...a) => { argc(a, 1); return H.range(a[0], 0, -1) !== false; },
    },
    gov: { validateConstitution: () => { throw new Error('ccf.gov.validateConstitution is available in governance only'); } },
  };
  const historical = H.historical ? H.historical() : null;
  if (historical) globalThis.ccf.historicalState = { transactionId: historical.transactionId, receipt: historical.receipt, kv: makeKv(H.hkv) };
  for (const k of ['generateAesKey', 'generateRsaKeyPair', 'generateEcdsaKeyPair', 'wrapKey', 'digest', 'isValidX509CertBundle', 'isValidX509CertChain']) globalThis.ccf[k] = crypto[k];

  // Tessera extensions (not in CCF): TextEncoder and TextDecoder for UTF-8.
  globalThis.TextEncoder = class TextEncoder { get encoding() { return 'utf-8'; } encode(s = '') { return new Uint8Array(H.strToBuf(String(s))); } };
  globalThis.TextDecoder = class TextDecoder { get encoding() { return 'utf-8'; } decode(b) { if (b === undefined) return ''; const buf = b instanceof ArrayBuffer ? b : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); return H.bufToStr(buf); } };
})();
`;

/** The wrapper module that calls the handler and turns its return value into bytes, as CCF does. */
export function dispatchModule(modulePath: string, exportName: string): string {
  return `import * as m from ${JSON.stringify('.' + modulePath)};
export function __dispatch(req, bodyBuf) {
  let active = true;
  const text = () => { if (!active) throw new Error('the request is no longer active'); return ccf.bufToStr(bodyBuf); };
  const request = { ...req, body: { text, json: () => JSON.parse(text()), arrayBuffer: () => { if (!active) throw new Error('the request is no longer active'); return bodyBuf.slice(0); } } };
  const fn = m[${JSON.stringify(exportName)}];
  if (typeof fn !== 'function') return { failure: 'no_export' };
  let result;
  try {
    result = fn(request);
  } catch (e) {
    const overflow = e instanceof RangeError && /call stack/.test(String(e.message));
    return { failure: 'exception', message: overflow ? 'InternalError: stack overflow' : String(e && e.name ? e.name + ': ' + e.message : e), trace: e && e.stack ? String(e.stack).split('\\n').slice(1).join('\\n') : '' };
  } finally {
    active = false;
  }
  if (result === null || typeof result !== 'object') return { failure: 'not_object' };
  let statusCode = result.statusCode;
  if (statusCode === undefined || statusCode === null) statusCode = 200;
  else if (!Number.isInteger(statusCode)) return { failure: 'status_type' };
  let body = null;
  let contentType = null;
  const b = result.body;
  if (b instanceof ArrayBuffer) { body = b; contentType = 'application/octet-stream'; }
  else if (ArrayBuffer.isView(b)) { body = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); contentType = 'application/octet-stream'; }
  else if (typeof b === 'string') { body = ccf.strToBuf(b); contentType = 'text/plain'; }
  else if (b !== undefined) {
    let s;
    try { s = JSON.stringify(b); } catch (e) { return { failure: 'json' }; }
    body = ccf.strToBuf(String(s));
    contentType = 'application/json';
  }
  const headers = {};
  for (const [k, v] of Object.entries(result.headers || {})) headers[k.toLowerCase()] = String(v);
  return { statusCode, body, contentType, headers };
}
`;
}
