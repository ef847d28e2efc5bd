// The part of the `ccf` global that apps and governance share (src/sandbox/guest/ccf-common.sandbox.ts),
// run as each of the two preludes runs it: the same checks and messages in both, as CCF has one
// implementation of them (src/js/extensions/ccf/kv_helpers.h js_kv_map_foreach, converters.cpp,
// console.cpp; microsoft/CCF, Apache-2.0).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CCF_PRELUDE } from '../src/apps/prelude.js';
import { GOV_PRELUDE } from '../src/governance/ccf-global.js';
import { JsEngine } from '../src/sandbox/js/engine.js';

const engine = new JsEngine();
const enc = (s: string) => new TextEncoder().encode(s).buffer as ArrayBuffer;

const PROBE = `
const t = (f) => { try { return f(); } catch (e) { return e.name + ': ' + e.message; } };
export function main() {
  const seen = [];
  return {
    forEachNone: t(() => ccf.kv.t.forEach()),
    forEachNotFunction: t(() => ccf.kv.t.forEach(1)),
    forEachTwo: t(() => ccf.kv.t.forEach(() => {}, 1)),
    forEach: t(() => { ccf.kv.t.forEach((v, k, map) => seen.push([ccf.bufToStr(k), ccf.bufToStr(v), typeof map.get])); return seen; }),
    getString: t(() => ccf.kv.t.get('a')),
    setOne: t(() => ccf.kv.t.set(ccf.strToBuf('a'))),
    pemToIdNumber: t(() => ccf.pemToId(1)),
    pemToId: t(() => ccf.pemToId('PEM')),
    strToBufNumber: t(() => ccf.strToBuf(1)),
    json: t(() => ccf.bufToJsonCompatible(ccf.jsonCompatibleToBuf({ a: [1] }))),
    digestOneArg: t(() => ccf.crypto.digest('SHA-256')),
    digestAlias: ccf.digest === ccf.crypto.digest,
    logged: (console.log('l'), console.info('i'), console.debug('d'), console.warn('w', { a: 1 }), console.error('e'), true),
  };
}`;

for (const [name, prelude, prefix] of [['apps', CCF_PRELUDE, '__h_'], ['governance', GOV_PRELUDE, '__g_']] as const) {
  test(`${name}: ccf.kv, the converters, ccf.crypto's arity and console as CCF checks them`, async () => {
    const lines: Array<[unknown, unknown]> = [];
    const host = {
      [`${prefix}strToBuf`]: (s: string) => enc(s),
      [`${prefix}bufToStr`]: (b: ArrayBuffer) => Buffer.from(b).toString('utf8'),
      [`${prefix}pemToId`]: (pem: string) => `id of ${pem}`,
      [`${prefix}kv`]: (table: string, method: string) => (method === 'entries' ? [[enc('k'), enc('v')]] : `${table}.${method}`),
      [`${prefix}crypto`]: (fn: string) => `crypto.${fn}`,
      [`${prefix}log`]: (level: unknown, text: unknown) => void lines.push([level, text]),
    };
    const result = await engine.run({ modules: { '/main.js': PROBE }, entry: '/main.js', exportName: 'main', prelude, host });
    assert.deepEqual(result, {
      forEachNone: 'TypeError: Passed 0 arguments, but expected 1',
      forEachNotFunction: 'TypeError: Argument must be a function',
      forEachTwo: 'TypeError: Passed 2 arguments, but expected 1',
      forEach: [['k', 'v', 'function']],
      getString: 'TypeError: Argument must be an ArrayBuffer',
      setOne: 'TypeError: Passed 1 arguments, but expected 2',
      pemToIdNumber: 'TypeError: Argument must be a string',
      pemToId: 'id of PEM',
      strToBufNumber: 'TypeError: Argument must be a string',
      json: { a: [1] },
      digestOneArg: 'TypeError: Passed 1 arguments, but expected 2',
      digestAlias: true,
      logged: true,
    });
    assert.deepEqual(lines, [['info', 'l'], ['info', 'i'], ['debug', 'd'], ['fail', 'w {"a":1}'], ['fatal', 'e']]);
  });
}
