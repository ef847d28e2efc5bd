// Teaclave's WAMR executor ABI, in the isolate: fds over inputs read in full beforehand, outputs
// collected until closed. The WASM engine calls `imports(getMemory)` and then `run(instance)`, which
// this bundle exports (user.ts takes them out of `__guest`); the entry and argv come from `TEACLAVE`,
// which user.ts declares before the bundle. Host callbacks are in scope by name (sandbox boundary).

declare const __tessera_input_or_null: (name: string) => ArrayBuffer | null;
declare const __tessera_has_output: (name: string) => boolean;
declare const __tessera_output: (name: string, data: Uint8Array) => void;
declare const TEACLAVE: { entry: string; argv: string[] };

type File = { data: Uint8Array; pos: number; out?: undefined } | { out: string | null; chunks: Uint8Array[] | null; data?: undefined };

const files: Array<File | null> = [];
let memory: () => WebAssembly.Memory = () => {
  throw new Error('no memory');
};
const bytes = () => new Uint8Array(memory().buffer);
function cstr(ptr: number): string {
  const m = bytes();
  let end = ptr;
  while (m[end] !== 0) end++;
  let s = '';
  for (let i = ptr; i < end; i++) s += String.fromCharCode(m[i]!);
  return decodeURIComponent(escape(s));
}
function joined(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
export function imports(getMemory: () => WebAssembly.Memory) {
  memory = getMemory;
  return {
    env: {
      teaclave_open_input(namePtr: number) {
        const data = __tessera_input_or_null(cstr(namePtr));
        if (data === null) return -1;
        files.push({ data: new Uint8Array(data), pos: 0 });
        return files.length - 1;
      },
      teaclave_create_output(namePtr: number) {
        const name = cstr(namePtr);
        if (!__tessera_has_output(name)) return -1;
        files.push({ out: name, chunks: [] });
        return files.length - 1;
      },
      teaclave_read_file(fd: number, buf: number, size: number) {
        const f = files[fd];
        if (!f || !f.data) return -1;
        const n = Math.min(size, f.data.length - f.pos);
        bytes().set(f.data.subarray(f.pos, f.pos + n), buf);
        f.pos += n;
        return n;
      },
      teaclave_write_file(fd: number, buf: number, size: number) {
        const f = files[fd];
        if (!f || !f.out) return -1;
        f.chunks!.push(bytes().slice(buf, buf + size));
        return size;
      },
      teaclave_close_file(fd: number) {
        const f = files[fd];
        if (!f) return -1;
        if (f.out) {
          __tessera_output(f.out, joined(f.chunks!));
          f.chunks = null;
          f.out = null;
        }
        files[fd] = null;
        return 0;
      },
    },
  };
}
export function run(instance: WebAssembly.Instance): string {
  const { argv, entry } = TEACLAVE;
  const mem = instance.exports.memory as WebAssembly.Memory;
  const start = mem.grow(Math.ceil((argv.reduce((n, a) => n + unescape(encodeURIComponent(a)).length + 1, 0) + 4 * (argv.length + 1)) / 65536) || 1) * 65536;
  if (start < 0) throw new Error('no memory left for the arguments');
  const view = new DataView(mem.buffer);
  let at = start + 4 * (argv.length + 1);
  argv.forEach((a, i) => {
    const raw = unescape(encodeURIComponent(a));
    view.setUint32(start + 4 * i, at, true);
    for (let j = 0; j < raw.length; j++) view.setUint8(at++, raw.charCodeAt(j));
    view.setUint8(at++, 0);
  });
  view.setUint32(start + 4 * argv.length, 0, true);
  const result = (instance.exports[entry] as (argc: number, argv: number) => unknown)(argv.length, start);
  for (const f of files) if (f && f.out) __tessera_output(f.out, joined(f.chunks!));
  return String(result);
}
