import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { TesseraError } from '../../errors/index.js';
import type { FunctionRegistration } from '../../sdk/client.js';
import { type ClientFlags, clientOptions, withClient } from '../client.js';

// `tessera function`: task functions (js, wasm, python) registered by users (POST /v1/functions), which
// tasks then run by id. The code file decides the kind; the name, type and interface come from flags or
// from a descriptor (JSON or YAML) holding any of the registration's fields but the code.

interface RegisterFlags extends ClientFlags {
  name?: string;
  type?: string;
  descriptor?: string;
  description?: string;
  payload?: string;
  input: string[];
  output: string[];
  entry?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];
const KINDS: Record<string, FunctionRegistration['kind']> = { '.js': 'js', '.mjs': 'js', '.wasm': 'wasm', '.py': 'python' };
const TYPES: Record<string, FunctionRegistration['type']> = { single: 'Single', multi: 'Multiparty', multiparty: 'Multiparty' };
const PAYLOADS = ['none', 'text', 'json', 'optional-json'];
const DESCRIPTOR_FIELDS = new Set(['name', 'type', 'description', 'entry', 'interface', 'limits']);

function readDescriptor(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new TesseraError('not_found', `${file} does not exist: --descriptor takes a JSON or YAML file ({name, type, interface: {payload, inputs, outputs}})`);
  let d: unknown;
  try {
    d = parseYaml(readFileSync(file, 'utf8')); // YAML is a superset of JSON: one parser for both
  } catch (err) {
    throw new TesseraError('invalid_input', `${file} is not JSON or YAML: ${(err as Error).message.split('\n')[0].replace(/:$/, '')}`);
  }
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new TesseraError('invalid_input', `${file} must hold an object ({name, type, interface: {payload, inputs, outputs}})`);
  const unknown = Object.keys(d).filter((k) => !DESCRIPTOR_FIELDS.has(k));
  if (unknown.length) throw new TesseraError('invalid_input', `${file}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (a descriptor may hold ${[...DESCRIPTOR_FIELDS].join(', ')}; the code comes from FILE)`);
  return d as Record<string, unknown>;
}

/** The registration for FILE: its code and kind, with the descriptor's fields, then the flags over them. */
export function registrationFor(file: string, flags: RegisterFlags): FunctionRegistration {
  if (!existsSync(file) || !statSync(file).isFile()) throw new TesseraError('not_found', `${file} does not exist: give the function's code (a .js module, a .wasm module or a .py file)`);
  const kind = KINDS[extname(file).toLowerCase()];
  if (!kind) throw new TesseraError('invalid_input', `${file}: the code must be a .js or .mjs module, a .wasm module or a .py file (its extension decides the kind)`);
  const d = flags.descriptor ? readDescriptor(flags.descriptor) : {};
  const iface = (d.interface ?? {}) as Record<string, unknown>;
  const spec: Record<string, unknown> = { ...d };
  spec.name = flags.name ?? d.name ?? basename(file, extname(file));
  const typeText = flags.type ?? (d.type as string | undefined) ?? 'Single';
  spec.type = TYPES[String(typeText).toLowerCase()];
  if (!spec.type) throw new TesseraError('invalid_input', `type '${typeText}' is not Single or Multi (Multiparty)`);
  if (flags.description) spec.description = flags.description;
  if (flags.entry) spec.entry = { ...((d.entry as object) ?? {}), export: flags.entry };
  const payload = flags.payload ?? iface.payload ?? 'optional-json';
  if (!PAYLOADS.includes(String(payload))) throw new TesseraError('invalid_input', `payload '${payload}' is not one of ${PAYLOADS.join(', ')}`);
  spec.interface = {
    payload,
    arguments: iface.arguments ?? [],
    inputs: flags.input.length ? flags.input.map((name) => ({ name })) : (iface.inputs ?? []),
    outputs: flags.output.length ? flags.output.map((name) => ({ name })) : (iface.outputs ?? []),
  };
  spec.kind = kind;
  if (kind === 'js') spec.modules = { '/main.js': readFileSync(file, 'utf8') };
  else if (kind === 'wasm') spec.wasm = readFileSync(file).toString('base64');
  else spec.python = readFileSync(file, 'utf8');
  return spec as unknown as FunctionRegistration;
}

const table = (rows: string[][]) => {
  const widths = rows.reduce((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), [] as number[]);
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
};

export function registerFunction(program: Command) {
  const fn = program
    .command('function')
    .description('Task functions (js, wasm, python) that you register and tasks run by id: register, list, show')
    .addHelpText(
      'after',
      `
Examples:
  $ tessera function register ./count.js --name count --input data --output report -i ./tessera-data-identities/alice
  $ tessera function register ./count.wasm --descriptor count.yaml -i ./tessera-data-identities/alice
  $ tessera function list -i ./tessera-data-identities/alice
  $ tessera function show <function-id> -i ./tessera-data-identities/alice`,
    );

  clientOptions(fn.command('register <file>'))
    .description("Register a task function from its code (.js module, .wasm or .py); prints its id and function_hash")
    .option('--name <name>', 'the function name (default: the file name without extension)')
    .option('--type <type>', 'Single or Multi (multi-party: collaborators approve with their files)')
    .option('--descriptor <file>', 'a JSON or YAML file with name, type, description, entry, interface {payload, arguments, inputs, outputs}, limits')
    .option('--description <text>', 'what the function does')
    .option('--payload <kind>', `the payload the function takes: ${PAYLOADS.join(', ')} (default optional-json)`)
    .option('--input <name>', 'an input file the task gives it; repeat in order', collect, [])
    .option('--output <name>', 'an output file it writes (for the task creator); repeat', collect, [])
    .option('--entry <export>', 'the exported function to call (default entrypoint)')
    .option('--json', 'print the node\'s answer (function_id, code_hash, function_hash, name) as JSON')
    .addHelpText(
      'after',
      `
The id is the SHA-256 of the whole registration: the same code and interface always have the same id.
Collaborators approve the function_hash (tessera task show). A .js file is the module /main.js and
exports entrypoint(args, io); see docs/sandbox.md for the wasm and python ABIs. Flags override the
descriptor's fields.

Example:
  $ tessera function register ./count.js --name count --input data --output report -i ./tessera-data-identities/alice`,
    )
    .action(async (file: string, flags: RegisterFlags) => {
      const spec = registrationFor(file, flags);
      const r = await withClient(flags, (c) => c.registerFunction(spec));
      if (flags.json) return void console.log(JSON.stringify(r, null, 2));
      console.log(`registered ${r.name} (${spec.kind}, ${spec.type})`);
      console.log(`function id    ${r.function_id}`);
      console.log(`function_hash  ${r.function_hash}`);
      console.log(`run it with    tessera task create ${r.function_id}`);
    });

  clientOptions(fn.command('list'))
    .description('List the functions tasks can run: the built-ins and the registered ones')
    .option('--json', 'print the list as JSON')
    .addHelpText('after', '\nExample:\n  $ tessera function list -i ./tessera-data-identities/alice')
    .action(async (flags: ClientFlags & { json?: boolean }) => {
      const list = await withClient(flags, (c) => c.listTaskFunctions());
      if (flags.json) return void console.log(JSON.stringify(list, null, 2));
      const rows = list.map((f) => [f.name, f.kind, f.type, f.owner ?? '(built-in)', f.function_hash ? `${f.function_hash.slice(0, 16)}…` : '', (f.owner ? f.description?.split(':')[0] : f.description)?.slice(0, 40) ?? '']);
      console.log(table([['NAME OR ID', 'KIND', 'TYPE', 'OWNER', 'FUNCTION_HASH', 'DESCRIPTION'], ...rows]));
    });

  clientOptions(fn.command('show <id>'))
    .description("Show a registered function: name, kind, type, owner, interface, hashes (--json: with its code)")
    .option('--json', 'print the whole registration, code included, as JSON')
    .addHelpText('after', '\nExample:\n  $ tessera function show <function-id> -i ./tessera-data-identities/alice')
    .action(async (id: string, flags: ClientFlags & { json?: boolean }) => {
      if (!/^[0-9a-f]{64}$/.test(id)) throw new TesseraError('invalid_input', `'${id}' is not a function id (64 hex digits): tessera function list shows them`);
      const f = await withClient(flags, (c) => c.getRegisteredFunction(id));
      if (flags.json) return void console.log(JSON.stringify(f, null, 2));
      const i = f.interface as { payload: string; inputs: Array<{ name: string }>; outputs: Array<{ name: string; for?: string }> };
      console.log(`id             ${f.id}`);
      console.log(`name           ${f.name}${f.description ? `  (${f.description})` : ''}`);
      console.log(`kind, type     ${f.kind}, ${f.type}`);
      console.log(`owner          ${f.owner}`);
      console.log(`payload        ${i.payload}`);
      console.log(`inputs         ${i.inputs.map((x) => x.name).join(', ') || '(none)'}`);
      console.log(`outputs        ${i.outputs.map((x) => `${x.name}${x.for ? ` (for ${x.for})` : ''}`).join(', ') || '(none)'}`);
      console.log(`code_hash      ${f.code_hash}`);
      console.log(`function_hash  ${f.function_hash}`);
    });
}
