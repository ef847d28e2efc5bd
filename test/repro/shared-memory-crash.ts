// See README.md beside this file. This is the JS_PATTERNS entry of test/reliability/sandbox-escapes.test.ts
// that crashed the process now and then; add it back to that array to reproduce.
export const CASE = String.raw`
  {
    name: 'shared memory hidden deep, in Map keys, or behind a graph built to be expensive to walk is refused, quickly',
    source: \`export function main() {
      const sab = new SharedArrayBuffer(8);
      let deep = [sab]; for (let i = 0; i < 100; i++) deep = [deep];
      let dag = {}; for (let i = 0; i < 40; i++) dag = { a: dag, b: dag };
      const out = [];
      for (const arg of [deep, new Map([[sab, 1]]), dag]) { try { hostEcho(arg); out.push('accepted'); } catch (e) { out.push(/shared memory|nest at most/.test(e.message) ? 'refused' : String(e)); } }
      return out; }\`,
    expect: (r) => r.forEach((x) => assert.deepEqual(x, { ok: ['refused', 'refused', 'accepted'] })),
  },
`;
