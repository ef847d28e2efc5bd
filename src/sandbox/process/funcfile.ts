import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { TesseraError } from '../../errors/index.js';

// Fn's func.yaml (fnproject/cli common/funcfile.go): unknown fields and bad values are refused by name.

export interface FuncFile {
  schema_version?: number;
  name: string;
  version?: string;
  runtime?: string;
  entrypoint?: string;
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
  format?: string;
}

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    schema_version: { type: 'integer' },
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,255}$' },
    version: { type: 'string' },
    runtime: { enum: ['node', 'go', 'java', 'python', 'python3', 'ruby', 'kotlin', 'docker', 'binary'] },
    entrypoint: { type: 'string', minLength: 1 },
    build_image: { type: 'string' },
    run_image: { type: 'string' },
    content_type: { type: 'string' },
    memory: { type: 'integer', minimum: 8, maximum: 8192 },
    timeout: { type: 'integer', minimum: 1, maximum: 300 },
    idle_timeout: { type: 'integer', minimum: 1, maximum: 3600 },
    config: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object' },
    expects: { type: 'object' },
    triggers: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['name', 'type', 'source'], properties: { name: { type: 'string' }, type: { const: 'http' }, source: { type: 'string', pattern: '^/' } } },
    },
    format: { enum: ['http-stream', 'json', 'cloudevent', 'default'] },
  },
};
const validate = new Ajv({ allErrors: true, strict: false }).compile(SCHEMA);

export function readFuncFile(dir: string): FuncFile {
  const path = ['func.yaml', 'func.yml'].map((f) => join(dir, f)).find((p) => existsSync(p));
  if (!path) throw new TesseraError('not_found', `${dir} has no func.yaml`);
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new TesseraError('parse_error', `${path} is not YAML: ${(err as Error).message}`);
  }
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map((e) =>
      e.keyword === 'additionalProperties' ? `unknown field '${(e.params as { additionalProperty: string }).additionalProperty}'` : `${e.instancePath.slice(1).replaceAll('/', '.') || 'func.yaml'} ${e.message}`,
    );
    throw new TesseraError('invalid_input', `${path}: ${problems.join('; ')}`);
  }
  return raw as unknown as FuncFile;
}

/** The command that runs the function: its entrypoint, or the runtime's default. */
export function commandOf(f: FuncFile): string[] {
  const entry = f.entrypoint ?? (f.runtime === 'node' ? 'node func.js' : f.runtime === 'python' || f.runtime === 'python3' ? 'python3 func.py' : undefined);
  if (!entry) throw new TesseraError('invalid_input', `func.yaml for ${f.name}: runtime '${f.runtime ?? 'none'}' needs an entrypoint`);
  return entry.split(/\s+/).filter(Boolean);
}
