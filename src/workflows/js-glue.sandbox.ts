// JS workflow instances: the module's four handlers, and an `edgeless` global over the same host
// callbacks the sandbox boundary hands this script as `H`. Bundled at build time; see wasm-glue.ts.

type HostFn = (...args: any[]) => any;
declare const H: Record<string, HostFn>;

type Source = { node_id: string; component_id: string };
interface Handlers {
  handle_init?(payload: string | null, state: string | null): void;
  handle_cast?(src: Source, msg: string): void;
  handle_call?(src: Source, msg: string): unknown;
  handle_stop?(): void;
}

const enc = (s: unknown): ArrayBuffer => H.utf8!(String(s));
const hex = (b: ArrayBuffer) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
const hexId = (b: ArrayBuffer) =>
  hex(b)
    .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
const rawId = (id: string): ArrayBuffer => H.uuidBytes!(id);
const ret = (r: { type: number; data: ArrayBuffer }) => (r.type === 1 ? { type: 'reply', data: H.text!(r.data) as string } : { type: r.type === 0 ? 'noreply' : 'err' });
const edgeless = Object.freeze({
  ERR: Symbol('Err'),
  cast: (alias: string, msg: string) => H.cast!(enc(alias), enc(msg)),
  cast_raw: (id: Source, msg: string) => H.cast_raw!(rawId(id.node_id), rawId(id.component_id), enc(msg)),
  call: (alias: string, msg: string) => ret(H.call!(enc(alias), enc(msg))),
  call_raw: (id: Source, msg: string) => ret(H.call_raw!(rawId(id.node_id), rawId(id.component_id), enc(msg))),
  delayed_cast: (ms: number, alias: string, msg: string) => H.delayed_cast!(Number(ms), enc(alias), enc(msg)),
  // telemetry_log(level, target, msg) as EDGELESS; telemetry_log(level, msg) logs msg with the function's
  // name as its target. Anything but a number and strings is a mistake: it traps, naming the argument.
  telemetry_log: function (level: number, target: string, msg?: string) {
    if (typeof level !== 'number') throw new TypeError('edgeless.telemetry_log(level, [target,] msg): level must be a number, 1 (Error) to 5 (Trace)');
    if (arguments.length < 2 || arguments.length > 3) throw new TypeError(`edgeless.telemetry_log(level, [target,] msg) takes 2 or 3 arguments, not ${arguments.length}`);
    if (arguments.length === 2) {
      if (typeof target !== 'string') throw new TypeError('edgeless.telemetry_log(level, msg): msg must be a string');
      return H.telemetry_log!(level, null, enc(target));
    }
    if (typeof target !== 'string') throw new TypeError('edgeless.telemetry_log(level, target, msg): target must be a string');
    if (typeof msg !== 'string') throw new TypeError('edgeless.telemetry_log(level, target, msg): msg must be a string');
    return H.telemetry_log!(level, enc(target), enc(msg));
  },
  // Tessera addition: the EventMetadata of the event being handled, as hex (32 and 16 digits), or null
  // in handle_init and handle_stop.
  metadata: () => {
    const m = H.metadata!() as { trace: ArrayBuffer; span: ArrayBuffer } | null;
    return m ? Object.freeze({ trace_id: hex(m.trace), span_id: hex(m.span) }) : null;
  },
  slf: () => {
    const id = H.slf!() as { node: ArrayBuffer; component: ArrayBuffer };
    return { node_id: hexId(id.node), component_id: hexId(id.component) };
  },
  sync: (state: string) => H.sync!(enc(state)),
  parse_init_payload: (payload: string | null | undefined) => {
    const out: Record<string, string> = {};
    for (const token of String(payload ?? '').split(',')) {
      const [k, v] = token.split('=');
      if (v === undefined) continue;
      out[k!] = v;
    }
    return out;
  },
});
const g = globalThis as Record<string, unknown>;
g.edgeless = edgeless;
let handlers: Handlers = {};
g.__bind = (ns: Handlers) => {
  handlers = ns;
};
const src = (node: ArrayBuffer, component: ArrayBuffer): Source => ({ node_id: hexId(node), component_id: hexId(component) });
g.__init = (payload: ArrayBuffer | null, state: ArrayBuffer | null) =>
  handlers.handle_init?.(payload && payload.byteLength ? H.text!(payload) : null, state && state.byteLength ? H.text!(state) : null);
g.__cast = (node: ArrayBuffer, component: ArrayBuffer, payload: ArrayBuffer) => {
  handlers.handle_cast?.(src(node, component), H.text!(payload));
};
g.__call = (node: ArrayBuffer, component: ArrayBuffer, payload: ArrayBuffer) => {
  const r = handlers.handle_call ? handlers.handle_call(src(node, component), H.text!(payload)) : null;
  if (r === edgeless.ERR) return { type: 2, data: null };
  if (r === null || r === undefined) return { type: 0, data: null };
  return { type: 1, data: enc(r) };
};
g.__stop = () => {
  handlers.handle_stop?.();
};
