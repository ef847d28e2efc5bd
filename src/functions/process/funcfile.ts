import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { TesseraError } from '../../errors/index.js';

// Fn's func.yaml, schema 20180708 (fnproject/cli common/funcfile.go, FuncFileV20180708): every field
// that file has is accepted; unknown fields and bad values are refused by name (Fn ignores unknown fields
// silently, which turns a typo into a function that runs with defaults). `format` is not a field of it:
// Fn runs only http-stream; Tessera's adapters for the legacy formats are chosen with the annotation
// `tessera.io/format`.

export interface FuncFile {
  schema_version?: number;
  name: string;
  version?: string;
  runtime?: string;
  cmd?: string;
  entrypoint?: string;
  type?: string;
  build?: string[];
  build_image?: string;
  run_image?: string;
  content_type?: string;
  memory?: number;
  timeout?: number;
  idle_timeout?: number;
  config?: Record<string, string>;
  annotations?: Record<string, unknown>;
  expects?: { config?: Array<{ name: string; required?: boolean }> };
  triggers?: Array<{ name: string; type: 'http'; source: string }>;
  deploy?: Record<string, unknown>;
  signing_details?: Record<string, unknown>;
}

/** Tessera's own annotations in func.yaml (Fn's place for extensions). */
export const ANNOTATIONS = { format: 'tessera.io/format', egress: 'tessera.io/egress' } as const;
export type FnFormat = 'http-stream' | 'json' | 'cloudevent' | 'default';

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    schema_version: { const: 20180708 },
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,255}$' },
    version: { type: 'string' },
    runtime: { type: 'string', pattern: '^[a-z][a-z0-9.]*$' },
    cmd: { type: 'string' },
    entrypoint: { type: 'string', minLength: 1 },
    type: { type: 'string' },
    build: { type: 'array', items: { type: 'string' } },
    build_image: { type: 'string' },
    run_image: { type: 'string' },
    content_type: { type: 'string' },
    memory: { type: 'integer', minimum: 8, maximum: 8192 },
    timeout: { type: 'integer', minimum: 1, maximum: 300 },
    idle_timeout: { type: 'integer', minimum: 1, maximum: 3600 },
    config: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: {
      type: 'object',
      properties: { 'tessera.io/format': { enum: ['http-stream', 'json', 'cloudevent', 'default'] }, 'tessera.io/egress': { type: 'boolean' } },
    },
    expects: { type: 'object' },
    // Oracle Cloud deployment and image signing settings: accepted so Fn's files load; nothing here uses them.
    deploy: { type: 'object' },
    signing_details: { type: 'object' },
    triggers: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['name', 'type', 'source'], properties: { name: { type: 'string' }, type: { const: 'http' }, source: { type: 'string', pattern: '^/' } } },
    },
  },
};
const validate = new Ajv({ allErrors: true, strict: false }).compile(SCHEMA);

/** The func.yaml (or func.yml) of a function directory. */
export function readFuncFile(dir: string): FuncFile {
  const path = ['func.yaml', 'func.yml', 'func.json'].map((f) => join(dir, f)).find((p) => existsSync(p));
  if (!path) throw new TesseraError('not_found', `${dir} has no func.yaml`);
  return parseFuncFile(readFileSync(path, 'utf8'), path);
}

export function parseFuncFile(text: string, where = 'func.yaml'): FuncFile {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new TesseraError('parse_error', `${where} is not YAML: ${(err as Error).message}`);
  }
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map((e) => {
      if (e.instancePath === '/schema_version') return 'unsupported func.yaml version, please use the migrate command to update your function metadata (schema_version must be 20180708)';
      if (e.keyword !== 'additionalProperties') return `${e.instancePath.slice(1).replaceAll('/', '.') || 'func.yaml'} ${e.message}`;
      const field = (e.params as { additionalProperty: string }).additionalProperty;
      return field === 'format' && !e.instancePath
        ? "unknown field 'format': func.yaml (schema 20180708) has none; Fn functions speak http-stream, and a legacy format is chosen with the annotation tessera.io/format"
        : `unknown field '${field}'`;
    });
    throw new TesseraError('invalid_input', `${where}: ${problems.join('; ')}`);
  }
  return raw as unknown as FuncFile;
}

export const formatOf = (f: FuncFile): FnFormat => (f.annotations?.[ANNOTATIONS.format] as FnFormat | undefined) ?? 'http-stream';
export const egressOf = (f: FuncFile): boolean => f.annotations?.[ANNOTATIONS.egress] === true;
