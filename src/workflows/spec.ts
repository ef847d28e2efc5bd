import { Ajv } from 'ajv';
import { TesseraError } from '../errors/index.js';

// EDGELESS workflow JSON (edgeless.md §4), with Tessera's function types JS and BUILTIN beside RUST_WASM.
// `binary` carries the code inline (base64), as EDGELESS's CLI fills it in from `code`.

export interface WorkflowFunction {
  name: string;
  class_specification: { id: string; function_type: 'RUST_WASM' | 'JS' | 'BUILTIN' | 'CONTAINER'; version: string; code?: string; binary?: string; outputs?: string[] };
  output_mapping: Record<string, string>;
  annotations: Record<string, string>;
}

export interface WorkflowResource {
  name: string;
  class_type: string;
  output_mapping: Record<string, string>;
  configurations: Record<string, string>;
}

export interface WorkflowSpec {
  functions: WorkflowFunction[];
  resources: WorkflowResource[];
  annotations?: Record<string, string>;
}

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const name = { type: 'string', minLength: 1 };

const SCHEMA = {
  type: 'object',
  required: ['functions'],
  properties: {
    functions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'class_specification'],
        properties: {
          name,
          class_specification: {
            type: 'object',
            required: ['id', 'function_type', 'version'],
            properties: {
              id: name,
              // CONTAINER is known so that it is refused by name (containerRefusal), not as an unknown type.
              function_type: { enum: ['RUST_WASM', 'JS', 'BUILTIN', 'CONTAINER'] },
              version: { type: 'string' },
              code: { type: 'string' },
              binary: { type: 'string' },
              outputs: { type: 'array', items: { type: 'string' } },
            },
          },
          output_mapping: stringMap,
          annotations: stringMap,
        },
      },
    },
    resources: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'class_type'],
        properties: { name, class_type: { type: 'string' }, output_mapping: stringMap, configurations: stringMap },
      },
    },
    annotations: stringMap,
  },
};
const validate = new Ajv({ allErrors: true, strict: false }).compile(SCHEMA);

/** Built-in workflow functions, written against the same JS function API as users' JS functions. */
export const BUILTIN_FUNCTIONS: Record<string, string> = {
  echo: 'export function handle_call(src, msg) { return msg; } export function handle_cast(src, msg) { edgeless.cast("out", msg); }',
  log: 'export function handle_cast(src, msg) { edgeless.telemetry_log(3, "log", msg); } export function handle_call(src, msg) { edgeless.telemetry_log(3, "log", msg); return ""; }',
};

/**
 * Why a CONTAINER function (EDGELESS's container runtime: `code` is `container:<image>:<tag>`, run with
 * Docker and spoken to over gRPC) does not run here, and what to do instead. The node and the CLI both say it.
 */
export function containerRefusal(fn: string | undefined, code: string | undefined): string {
  return (
    `function '${fn}' is a CONTAINER function (${code ?? 'no code'}): this node does not run containers. ` +
    'Build the function as RUST_WASM (EDGELESS Rust functions build unmodified with the edgeless_function crate) or write it as JS, ' +
    "or run its program as a process function (tessera fn deploy, then tessera fn invoke: confined, but outside workflows)"
  );
}

/** Validates a workflow; every problem is named, so a bad spec is refused before anything starts. */
export function checkWorkflow(raw: unknown): WorkflowSpec {
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath.slice(1).replaceAll('/', '.') || 'the workflow'} ${e.message}`);
    throw new TesseraError('invalid_input', `invalid workflow: ${problems.join('; ')}`);
  }
  const spec = raw as unknown as WorkflowSpec;
  spec.resources ??= [];
  const names = new Set<string>();
  for (const n of [...spec.functions.map((f) => f.name), ...spec.resources.map((r) => r.name)]) {
    if (names.has(n)) throw new TesseraError('invalid_input', `invalid workflow: the name '${n}' is used twice`);
    names.add(n);
  }
  for (const item of [...spec.functions, ...spec.resources]) {
    for (const [alias, target] of Object.entries(item.output_mapping ?? {})) {
      if (!alias || !target) throw new TesseraError('invalid_input', `invalid workflow: '${item.name}' has an empty alias or target in output_mapping`);
      if (!names.has(target)) throw new TesseraError('invalid_input', `invalid workflow: '${item.name}' maps '${alias}' to '${target}', which is not a function or resource of this workflow`);
    }
  }
  for (const f of spec.functions) {
    const cls = f.class_specification;
    if (cls.function_type === 'CONTAINER') throw new TesseraError('invalid_input', `invalid workflow: ${containerRefusal(f.name, cls.code)}`);
    if (cls.function_type === 'BUILTIN' && !BUILTIN_FUNCTIONS[cls.id]) {
      throw new TesseraError('invalid_input', `invalid workflow: '${f.name}': no built-in workflow function '${cls.id}' (there are ${Object.keys(BUILTIN_FUNCTIONS).join(', ')})`);
    }
    if (cls.function_type !== 'BUILTIN' && !cls.binary) {
      throw new TesseraError('invalid_input', `invalid workflow: '${f.name}' has no code: put it in class_specification.binary (base64); 'tessera workflow start' inlines 'code' for you`);
    }
  }
  return spec;
}
