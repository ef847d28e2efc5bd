// The CCF app the app benchmarks deploy (bench/app-kv.ts, bench/workerd.ts): KV read and write handlers,
// endpoints built alike, deployed by a passed set_js_app proposal.
import type { TestNode } from '../test/helpers/cli.js';
import { passProposal } from '../test/helpers/gov.js';

export const KV_HANDLERS = `
export function read(request) {
  const v = ccf.kv['bench'].get(ccf.strToBuf(request.params.key));
  return v === undefined ? { statusCode: 404, body: { error: 'missing' } } : { body: { value: ccf.bufToStr(v) } };
}
export function write(request) {
  ccf.kv['bench'].set(ccf.strToBuf(request.params.key), request.body.arrayBuffer());
  return { statusCode: 204 };
}`;

/** An endpoint of bench.js, for users by certificate; with `reuseKey`, its interpreter is kept under that key. */
export const benchEndpoint = (fn: string, mode: string, reuseKey: string | null) => ({
  js_module: 'bench.js',
  js_function: fn,
  forwarding_required: 'never',
  authn_policies: ['user_cert'],
  mode,
  ...(reuseKey ? { interpreter_reuse: { key: reuseKey } } : {}),
});

/** Deploys bench.js with `endpoints`; m0 proposes, m0 and m1 accept. */
export const deployBenchApp = (node: TestNode, endpoints: Record<string, Record<string, unknown>>, module: string) =>
  passProposal(node, [{ name: 'set_js_app', args: { bundle: { metadata: { endpoints }, modules: [{ name: 'bench.js', module }] } } }]);
