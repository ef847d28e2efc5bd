// A CCF app written against @microsoft/ccf-app, exactly as for CCF: bundled by esbuild (build.mjs) into
// bundle.json and deployed by a set_js_app proposal. Tessera's tests drive every endpoint.
import * as ccfapp from '@microsoft/ccf-app';
import * as ccfcrypto from '@microsoft/ccf-app/crypto.js';
import { ccf } from '@microsoft/ccf-app/global.js';

interface Record {
  value: string;
}

const records = ccfapp.typedKv('records', ccfapp.string, ccfapp.json<Record>());
const counters = ccfapp.typedKv('public:counters', ccfapp.string, ccfapp.uint32);

export function putRecord(request: ccfapp.Request<Record>): ccfapp.Response {
  const key = request.params.key;
  const body = request.body.json();
  if (typeof body.value !== 'string') return { statusCode: 400, body: { error: 'value must be a string' } };
  records.set(key, { value: body.value });
  counters.set('records', (counters.get('records') ?? 0) + 1);
  return { statusCode: 201, body: { key } };
}

export function getRecord(request: ccfapp.Request): ccfapp.Response {
  const key = request.params.key;
  const record = records.get(key);
  if (record === undefined) return { statusCode: 404, body: { error: `no record ${key}` } };
  return { body: { ...record, version: records.getVersionOfPreviousWrite(key), count: counters.get('records') } };
}

export function historicalRecord(request: ccfapp.Request): ccfapp.Response {
  const state = ccf.historicalState!;
  const then = ccfapp.typedKv(state.kv['records'], ccfapp.string, ccfapp.json<Record>());
  return { body: { transactionId: state.transactionId, record: then.get(request.params.key) ?? null, receipt: state.receipt } };
}

export function historyRange(request: ccfapp.Request): ccfapp.Response {
  const q = Object.fromEntries(request.query.split('&').map((kv) => kv.split('=')));
  const from = Number(q.from);
  const to = Number(q.to);
  if (!(from <= to)) return { statusCode: 400, body: { error: { code: 'InvalidInput', message: 'from must not be after to' } } };
  const states = ccf.historical.getStateRange(1, from, to, 60);
  if (states === null) return { statusCode: 202, headers: { 'retry-after': '1' }, body: 'not yet available' };
  ccf.historical.dropCachedStates(1);
  return {
    body: states.map((s) => ({ transactionId: s.transactionId, value: ccfapp.typedKv(s.kv['records'], ccfapp.string, ccfapp.json<Record>()).get(q.key)?.value ?? null, receipt: s.receipt })),
  };
}

export function converters(request: ccfapp.Request): ccfapp.Response {
  const round = <T>(c: ccfapp.DataConverter<T>, v: T) => c.decode(c.encode(v));
  const cert = (request.caller as { cert: string }).cert;
  const bytes = new Uint8Array([1, 2, 3]);
  const results: { [name: string]: boolean } = {
    bool: round(ccfapp.bool, true) === true,
    int8: round(ccfapp.int8, -100) === -100,
    uint8: round(ccfapp.uint8, 200) === 200,
    int16: round(ccfapp.int16, -30000) === -30000,
    uint16: round(ccfapp.uint16, 60000) === 60000,
    int32: round(ccfapp.int32, -2e9) === -2e9,
    uint32: round(ccfapp.uint32, 4e9) === 4e9,
    int64: round(ccfapp.int64, -(2n ** 60n)) === -(2n ** 60n),
    uint64: round(ccfapp.uint64, 2n ** 63n) === 2n ** 63n,
    float32: round(ccfapp.float32, 1.5) === 1.5,
    float64: round(ccfapp.float64, Math.PI) === Math.PI,
    string: round(ccfapp.string, 'héllo') === 'héllo',
    json: JSON.stringify(round(ccfapp.json<object>(), { a: [1, 2] })) === '{"a":[1,2]}',
    checkedJson: JSON.stringify(round(ccfapp.checkedJson<object>(), { b: 1 })) === '{"b":1}',
    typedArray: round(ccfapp.typedArray(Uint8Array), bytes).join() === '1,2,3',
    arrayBuffer: new Uint8Array(round(ccfapp.arrayBuffer, bytes.buffer)).join() === '1,2,3',
    strToBuf: ccf.bufToStr(ccf.strToBuf('x')) === 'x',
    jsonCompatibleToBuf: (ccf.bufToJsonCompatible(ccf.jsonCompatibleToBuf([1, 'a'])) as unknown[]).join() === '1,a',
    // pemToId is untyped in @microsoft/ccf-app, as in CCF.
    pemToId: (ccf as unknown as { pemToId(pem: string): string }).pemToId(cert) === (request.caller as { id: string }).id,
  };
  return { body: results };
}

export function cryptoAll(request: ccfapp.Request<{ ca: string }>): ccfapp.Response {
  const c = ccfcrypto;
  const data = ccf.strToBuf('data to sign');
  const out: { [name: string]: boolean } = {};
  const ec = c.generateEcdsaKeyPair('secp256r1');
  out.ecdsa = c.verifySignature({ name: 'ECDSA', hash: 'SHA-256' }, ec.publicKey, c.sign({ name: 'ECDSA', hash: 'SHA-256' }, ec.privateKey, data), data);
  out.ecdsaP1363 = c.sign({ name: 'ECDSA', hash: 'SHA-256' }, ec.privateKey, data).byteLength === 64;
  const ec384 = c.generateEcdsaKeyPair('secp384r1');
  out.ecdsa384 = c.sign({ name: 'ECDSA', hash: 'SHA-384' }, ec384.privateKey, data).byteLength === 96;
  const rsa = c.generateRsaKeyPair(2048);
  out.rsaPss = c.verifySignature({ name: 'RSA-PSS', hash: 'SHA-256', saltLength: 32 }, rsa.publicKey, c.sign({ name: 'RSA-PSS', hash: 'SHA-256', saltLength: 32 }, rsa.privateKey, data), data);
  const ed = c.generateEddsaKeyPair('curve25519');
  out.eddsa = c.verifySignature({ name: 'EdDSA' }, ed.publicKey, c.sign({ name: 'EdDSA' }, ed.privateKey, data), data);
  out.x25519 = c.generateEddsaKeyPair('x25519').publicKey.includes('PUBLIC KEY');
  out.hmac = c.sign({ name: 'HMAC', hash: 'SHA-256' }, 'secret', data).byteLength === 32;
  out.digest = c.digest('SHA-256', data).byteLength === 32;
  let rejected = false;
  try {
    c.digest('SHA-1' as 'SHA-256', data);
  } catch (e) {
    rejected = e instanceof RangeError || /unsupported digest algorithm/.test(String(e));
  }
  out.digestOnlySha256 = rejected;
  const aes = c.generateAesKey(256);
  out.aesKey = aes.byteLength === 32;
  const secret = c.generateAesKey(128);
  const same = (a: ArrayBuffer, b: ArrayBuffer) => new Uint8Array(a).join() === new Uint8Array(b).join();
  out.aesKwp = same(c.unwrapKey(c.wrapKey(secret, aes, { name: 'AES-KWP' }), aes, { name: 'AES-KWP' }), secret);
  out.rsaOaep = same(c.unwrapKey(c.wrapKey(secret, ccf.strToBuf(rsa.publicKey), { name: 'RSA-OAEP' }), ccf.strToBuf(rsa.privateKey), { name: 'RSA-OAEP' }), secret);
  out.rsaOaepAesKwp = same(
    c.unwrapKey(c.wrapKey(secret, ccf.strToBuf(rsa.publicKey), { name: 'RSA-OAEP-AES-KWP', aesKeySize: 256 }), ccf.strToBuf(rsa.privateKey), { name: 'RSA-OAEP-AES-KWP', aesKeySize: 256 }),
    secret,
  );
  const cert = (request.caller as { cert: string }).cert;
  const ca = request.body.json().ca;
  out.certBundle = c.isValidX509CertBundle(cert + ca);
  out.certChain = c.isValidX509CertChain(cert, ca);
  out.certChainRefused = !c.isValidX509CertChain(ca, cert);
  const ecJwk = c.pemToJwk(ec.privateKey, 'k1');
  out.ecJwk = ecJwk.kid === 'k1' && ecJwk.kty === 'EC' && c.pubPemToJwk(c.pubJwkToPem(c.pubPemToJwk(ec.publicKey))).x === ecJwk.x && c.jwkToPem(ecJwk).includes('PRIVATE KEY');
  const rsaJwk = c.rsaPemToJwk(rsa.privateKey);
  out.rsaJwk = rsaJwk.kty === 'RSA' && c.pubRsaPemToJwk(c.pubRsaJwkToPem(c.pubRsaPemToJwk(rsa.publicKey))).n === rsaJwk.n && c.rsaJwkToPem(rsaJwk).includes('PRIVATE KEY');
  const edJwk = c.eddsaPemToJwk(ed.privateKey);
  out.eddsaJwk = edJwk.kty === 'OKP' && c.pubEddsaPemToJwk(c.pubEddsaJwkToPem(c.pubEddsaPemToJwk(ed.publicKey))).x === edJwk.x && c.eddsaJwkToPem(edJwk).includes('PRIVATE KEY');
  return { body: out };
}

export function whoami(request: ccfapp.Request): ccfapp.Response {
  const caller = request.caller as { cose?: { content: ArrayBuffer } } | null;
  if (caller && caller.cose) return { body: { ...caller, cose: { content: ccf.bufToStr(caller.cose.content) } } };
  return { body: caller };
}

export function applyWrites(request: ccfapp.Request): ccfapp.Response {
  const mode = request.params.mode;
  records.set(`apply-${mode}`, { value: mode });
  if (mode === 'force') {
    ccf.rpc.setApplyWrites(true);
    return { statusCode: 400, body: 'written despite the 400' };
  }
  if (mode === 'drop') {
    ccf.rpc.setApplyWrites(false);
    return { body: 'dropped despite the 200' };
  }
  if (mode === 'error') return { statusCode: 500, body: 'not written' };
  return { body: 'written' };
}

export function claims(request: ccfapp.Request): ccfapp.Response {
  const digest = ccfcrypto.digest('SHA-256', request.body.arrayBuffer());
  ccf.rpc.setClaimsDigest(digest);
  records.set('claimed', { value: request.body.text() });
  return { body: { claims_digest: Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('') } };
}

export function time(): ccfapp.Response {
  const before = Date.now();
  const wasOn = ccf.enableUntrustedDateTime(true);
  const after = Date.now();
  ccf.enableUntrustedDateTime(false);
  return { body: { before, after, wasOn } };
}

export function readonlyWrite(): ccfapp.Response {
  records.set('nope', { value: 'readonly endpoints cannot write' });
  return { body: 'unreachable' };
}

export function range(): ccfapp.Response {
  const raw = ccf.kv['ordered'] as unknown as { set(k: ArrayBuffer, v: ArrayBuffer): void; tesseraRange(from?: ArrayBuffer, to?: ArrayBuffer): [ArrayBuffer, ArrayBuffer][] };
  for (const k of ['c', 'a', 'd', 'b']) raw.set(ccf.strToBuf(k), ccf.strToBuf(k.toUpperCase()));
  const keys = raw.tesseraRange(ccf.strToBuf('b'), ccf.strToBuf('d')).map(([k]) => ccf.bufToStr(k));
  const encoded = new TextEncoder().encode('é');
  return { body: { keys, textEncoder: Array.from(encoded).join(','), textDecoder: new TextDecoder().decode(encoded) } };
}

export function misbehave(request: ccfapp.Request): ccfapp.Response {
  const how = request.params.how;
  if (how === 'throw') throw new Error('handler failed on purpose');
  if (how === 'loop') for (;;);
  if (how === 'memory') {
    const hog: number[][] = [];
    for (;;) hog.push(new Array(1e5).fill(1));
  }
  if (how === 'stack') {
    const f = (): number => f() + 1;
    return { body: f() };
  }
  if (how === 'not-object') return 42 as unknown as ccfapp.Response;
  if (how === 'bad-status') return { statusCode: 'two hundred' as unknown as number };
  if (how === 'typed-key') {
    (ccf.kv['records'] as unknown as { get(k: unknown): unknown }).get(new Uint8Array([1]));
  }
  return { body: 'fine' };
}
