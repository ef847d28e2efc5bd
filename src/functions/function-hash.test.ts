import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FunctionSpec, functionHash } from './user.js';

const base: FunctionSpec = {
  name: 'share',
  kind: 'js',
  type: 'Multiparty',
  description: 'reviewed by bob',
  modules: { '/main.js': "export function entrypoint(args, io) { io.output('back', io.input('b')); return 'ok'; }" },
  interface: {
    payload: 'none',
    arguments: [],
    inputs: [{ name: 'a', description: '' }, { name: 'b', description: '' }],
    outputs: [{ name: 'back', description: '', for: 'file_owner', owner_of: 'b' }],
  },
};
const withOutput = (o: Partial<FunctionSpec['interface']['outputs'][0]>): FunctionSpec => ({ ...base, interface: { ...base.interface, outputs: [{ ...base.interface.outputs[0], ...o }] } });

test('function_hash: one change to anything that decides behaviour is another hash', () => {
  const h = functionHash(base);
  assert.match(h, /^[0-9a-f]{64}$/);
  const variants: Array<[string, FunctionSpec]> = [
    ["an output's for", withOutput({ for: 'creator', owner_of: undefined })],
    ["an output's for (owner_of kept)", withOutput({ for: 'creator' })],
    ['an output for all participants', withOutput({ for: 'all_participants', owner_of: undefined })],
    ["an output's owner_of", withOutput({ owner_of: 'a' })],
    ["an output's name", withOutput({ name: 'other' })],
    ['an extra output', { ...base, interface: { ...base.interface, outputs: [...base.interface.outputs, { name: 'copy', description: '', for: 'creator' }] } }],
    ['the inputs', { ...base, interface: { ...base.interface, inputs: [{ name: 'b', description: '' }, { name: 'a', description: '' }] } }],
    ['the payload', { ...base, interface: { ...base.interface, payload: 'text' } }],
    ['the arguments', { ...base, interface: { ...base.interface, arguments: [{ name: 'x', description: '', required: true }] } }],
    ['the code', { ...base, modules: { '/main.js': base.modules!['/main.js'].replace("'ok'", "'OK'") } }],
    ['another module', { ...base, modules: { ...base.modules, '/lib.js': '' } }],
    ['the type', { ...base, type: 'Single' }],
    ['the entry', { ...base, entry: { export: 'other' } }],
    ['the limits', { ...base, limits: { cpuMs: 1000 } }],
    ['other limits', { ...base, limits: { cpuMs: 2000 } }],
  ];
  const seen = new Map([[h, 'the base']]);
  for (const [what, spec] of variants) {
    const v = functionHash(spec);
    assert.ok(!seen.has(v), `changing ${what} gave the same hash as ${seen.get(v)}`);
    seen.set(v, what);
  }
});

test('function_hash: the name, the description and key order do not change it', () => {
  const h = functionHash(base);
  const renamed: FunctionSpec = { ...base, name: 'renamed', description: 'something else' };
  assert.equal(functionHash(renamed), h);
  const reordered = JSON.parse(JSON.stringify({ interface: base.interface, modules: base.modules, type: base.type, kind: base.kind }));
  reordered.interface.outputs = [{ owner_of: 'b', for: 'file_owner', description: '', name: 'back' }];
  assert.equal(functionHash(reordered), h);
});

test('function_hash: a wasm function hashes its module, and is never a js one', () => {
  const wasm: FunctionSpec = { ...base, kind: 'wasm', modules: undefined, wasm: Buffer.from('\0asm\x01\0\0\0').toString('base64') };
  assert.notEqual(functionHash(wasm), functionHash(base));
  assert.notEqual(functionHash({ ...wasm, wasm: Buffer.from('\0asm\x01\0\0\0\0').toString('base64') }), functionHash(wasm));
});
