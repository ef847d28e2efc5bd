import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { TesseraError } from '../errors/index.js';
import { CONFIG_SCHEMA, type TesseraConfig } from './config-schema.js';
import { applyEnv } from './config-env.js';

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
const validate = ajv.compile(CONFIG_SCHEMA);

/**
 * Validates `raw` (parsed TOML) and fills in every default. `fromEnv` maps a setting's dotted path to the
 * environment variable that set it, so that a bad value names the variable rather than the file.
 */
export function resolveConfig(raw: unknown, source = 'configuration', fromEnv: Map<string, string> = new Map()): TesseraConfig {
  const copy = structuredClone(raw ?? {});
  if (!validate(copy)) {
    const where = (path: string) => {
      const variable = [...fromEnv].find(([setting]) => path === setting || path.startsWith(`${setting}.`))?.[1];
      return variable ? `${path} (environment variable ${variable})` : path;
    };
    const problems = (validate.errors ?? [])
      .map((e) => `${where(e.instancePath.replace(/^\//, '').replaceAll('/', '.')) || '(top level)'} ${e.message}${
        e.keyword === 'additionalProperties' ? ` ('${(e.params as { additionalProperty: string }).additionalProperty}')` : ''
      }`)
      .join('; ');
    throw new TesseraError('invalid_input', `${source}: ${problems}`);
  }
  return copy as TesseraConfig;
}

/** tessera.toml at `path`, with every TESSERA_<SECTION>_<KEY> variable of `env` over it (config-env.ts). */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): TesseraConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TesseraError('not_found', `cannot read ${path}: ${(err as Error).message}; run 'tessera init' first`);
  }
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    throw new TesseraError('parse_error', `${path} is not valid TOML: ${(err as Error).message}`);
  }
  return resolveConfig(raw, path, applyEnv(raw as Record<string, unknown>, env));
}

interface SchemaNode {
  description?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
}

/** The commented tessera.toml that `init` writes: every setting at its default, each with its meaning. */
export function configTemplate(): string {
  const lines = ['# Tessera node configuration. Every setting below is at its default; edit to change.', ''];
  const walk = (path: string[], node: SchemaNode) => {
    const scalars = Object.entries(node.properties ?? {}).filter(([, n]) => !n.properties);
    const tables = Object.entries(node.properties ?? {}).filter(([, n]) => n.properties);
    if (path.length) {
      if (node.description) lines.push(`# ${node.description}`);
      lines.push(`[${path.join('.')}]`);
    }
    for (const [key, n] of scalars) {
      if (n.description) lines.push(`# ${n.description}`);
      lines.push(stringifyToml({ [key]: n.default }).trim());
    }
    if (path.length) lines.push('');
    for (const [key, n] of tables) walk([...path, key], n);
  };
  walk([], CONFIG_SCHEMA as unknown as SchemaNode);
  return lines.join('\n');
}
