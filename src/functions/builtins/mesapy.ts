import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { builtinSettings } from '../builtin-settings.js';
import { TesseraError } from '../../errors/index.js';
import { PythonSandbox, type PythonSettings } from '../../sandbox/process/python/sandbox.js';
import type { FunctionDefinition } from '../registry.js';
import { decodeBase64, requirePayload } from './common.js';

// MesaTEE's mesapy_from_buffer (v0.1 48745a92 and late MesaTEE a02ef46367e0,
// mesatee_services/fns/sgx_trusted_lib/src/trusted_worker/mesapy.rs; tests/integration_test/src/mesapy.rs;
// examples/py_*): the payload is a Python script in base64 defining `entrypoint` (v0.1 calls it with no
// argument, late MesaTEE with argv = [context_id, context_token, input file ids…]); the result is the
// return value in Python 2 marshal format, written as `marshal.loads(b"\x4E")` (two upper-case hex digits
// per byte). The script runs in CPython 3 (Debian's python3) in a confined process, not in MesaPy.
// Differences: where MesaTEE returned "MESAPY_EXEC_ERROR" or "MESAPY_ERROR_BUFFER_TOO_SHORT" as a
// successful result, the task fails with the reason; context_token is "" (files are reached under the
// task's permissions, not by token).

const FN = 'mesapy_from_buffer';
/** Late MesaTEE's MAXPYBUFLEN: the largest marshalled result (v0.1 had 1024). */
export const MAX_MARSHAL_BYTES = 20480;

const defaults = (): PythonSettings => ({
  confinement: 'bubblewrap',
  uid: 65534,
  gid: 65534,
  runDir: join(tmpdir(), `tessera-python-${process.pid}`),
  memoryMib: 256,
  timeoutMs: 60_000,
  maxMessageBytes: 64 * 1024 * 1024,
});

let sandbox: PythonSandbox | null = null;
/** The node hands the worker its settings (worker-pool.ts; builtin-settings.ts). */
// The pool ends a timed-out thread from outside, which leaves its child processes running: it is told of
// each one, and kills them with the thread (worker-pool.ts).
const pythonSandbox = () =>
  (sandbox ??= new PythonSandbox(builtinSettings().python ?? defaults(), (pid, running) => parentPort?.postMessage({ type: 'process', pid, running })));

/** MesaTEE's result string for marshalled bytes. */
export const marshalLiteral = (bytes: Buffer): string =>
  `marshal.loads(b"${[...bytes].map((b) => '\\x' + b.toString(16).toUpperCase().padStart(2, '0')).join('')}")`;

export const mesapyFromBuffer: FunctionDefinition = {
  name: FN,
  kind: 'builtin',
  type: 'Single',
  description: 'runs a Python script given in the payload (base64) and returns its entrypoint\'s value, marshalled',
  interface: {
    payload: 'text',
    arguments: [{ name: 'script', description: 'base64 of a Python script defining entrypoint() or entrypoint(argv)', required: true }],
    inputs: [{ name: 'files', description: 'files the script reads through the mesatee module (argv[2:])', variadic: true, optional: true }],
    outputs: [],
  },
  run: async (ctx) => {
    const script = decodeBase64(FN, 'the payload', requirePayload(ctx.payload, FN).trim());
    const out = await pythonSandbox().run(
      {
        mode: 'mesapy',
        code: script.toString('utf8'),
        argv: [ctx.taskId, '', ...ctx.inputFiles.map((f) => f.file_id)],
        onCall: async (call) => {
          if (call.method === 'readFile') return { data: (await ctx.readFile(call.file_id)).toString('base64') };
          const data = Buffer.from(call.data, 'base64');
          if (call.method === 'saveForCreator') return { id: await ctx.saveForCreator(data) };
          if (call.method === 'saveForAllParticipants') return { id: await ctx.saveForAllParticipants(data) };
          return { id: await ctx.saveForFileOwner(data, (call as { file_id: string }).file_id) };
        },
      },
      // The pool stops the task at tasks.function_timeout_ms, ending this thread and the process with it.
      { fn: FN, wallTimer: false },
    );
    const bytes = (out as { marshal: Buffer }).marshal;
    if (bytes.length > MAX_MARSHAL_BYTES) {
      throw new TesseraError('too_large', `${FN}: the marshalled result is ${bytes.length} bytes, over MesaTEE's ${MAX_MARSHAL_BYTES} (MAXPYBUFLEN)`);
    }
    return marshalLiteral(bytes);
  },
};
