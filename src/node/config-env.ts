import { TesseraError } from '../errors/index.js';
import { CONFIG_SCHEMA } from './config-schema.js';

// Every setting of tessera.toml can be given as an environment variable, TESSERA_<SECTION>_<KEY> (the path
// of the setting, upper-cased and joined with '_'), so a container or a systemd unit can configure a node
// without editing its data directory. Precedence: command-line flags > environment > tessera.toml > defaults.

interface SchemaNode {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

export interface EnvSetting {
  /** The variable's name, e.g. TESSERA_HTTP_PORT. */
  variable: string;
  /** The setting's path in tessera.toml, e.g. ['http', 'port']. */
  path: string[];
  schema: SchemaNode;
}

export const envNameOf = (path: string[]) => `TESSERA_${path.join('_').toUpperCase()}`;

/** Every setting and its variable, from the schema (a table recurses; anything else is one setting). */
export const ENV_SETTINGS: readonly EnvSetting[] = (() => {
  const out: EnvSetting[] = [];
  const walk = (path: string[], node: SchemaNode) => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      if (child.properties) walk([...path, key], child);
      else out.push({ variable: envNameOf([...path, key]), path: [...path, key], schema: child });
    }
  };
  walk([], CONFIG_SCHEMA as unknown as SchemaNode);
  // '_' joins the path and also appears inside keys: two settings must never share a name.
  const seen = new Map<string, string>();
  for (const s of out) {
    const other = seen.get(s.variable);
    if (other) throw new TesseraError('internal', `settings ${other} and ${s.path.join('.')} would share the variable ${s.variable}`);
    seen.set(s.variable, s.path.join('.'));
  }
  return out;
})();

const SECTIONS = new Set(Object.keys((CONFIG_SCHEMA as unknown as SchemaNode).properties ?? {}));

export function parseValue(setting: EnvSetting, text: string): unknown {
  const { variable, schema } = setting;
  const bad = (what: string): never => {
    throw new TesseraError('invalid_input', `environment variable ${variable} (${setting.path.join('.')}) must be ${what}, not '${text}'`);
  };
  switch (schema.type) {
    case 'integer':
      return /^\s*-?\d+\s*$/.test(text) ? Number(text) : bad('an integer');
    case 'number': {
      const n = Number(text);
      return text.trim() !== '' && Number.isFinite(n) ? n : bad('a number');
    }
    case 'boolean': {
      const v = text.trim().toLowerCase();
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0') return false;
      return bad('true or false');
    }
    case 'array': {
      const t = text.trim();
      // A JSON array always works; a list of plain strings may also be given comma-separated.
      if (t.startsWith('[')) {
        try {
          return JSON.parse(t);
        } catch (err) {
          return bad(`a JSON array (${(err as Error).message})`);
        }
      }
      if (schema.items?.type !== 'string') return bad('a JSON array');
      return t === '' ? [] : t.split(',').map((s) => s.trim());
    }
    default:
      return text;
  }
}

/**
 * Writes each TESSERA_… variable of `env` into `raw` (parsed tessera.toml), over the file's value, and
 * returns which variable set each setting (by dotted path). A value that cannot be of its setting's type is
 * refused naming the variable; the schema then validates the whole.
 */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, string> {
  const applied = new Map<string, string>();
  for (const setting of ENV_SETTINGS) {
    const text = env[setting.variable];
    if (text === undefined) continue;
    let table = raw;
    for (const key of setting.path.slice(0, -1)) {
      const next = table[key];
      table = (table[key] = next && typeof next === 'object' && !Array.isArray(next) ? next : {}) as Record<string, unknown>;
    }
    table[setting.path.at(-1)!] = parseValue(setting, text);
    applied.set(setting.path.join('.'), setting.variable);
  }
  return applied;
}

/**
 * TESSERA_<SECTION>_… variables that name no setting: likely typos, which the node warns about. (Other
 * TESSERA_… variables belong to the CLI, e.g. TESSERA_URL, and are none of the node's business.)
 */
export function unknownEnvVariables(env: NodeJS.ProcessEnv): string[] {
  const known = new Set(ENV_SETTINGS.map((s) => s.variable));
  return Object.keys(env).filter((name) => {
    const m = /^TESSERA_([A-Z]+)_/.exec(name);
    return m !== null && SECTIONS.has(m[1].toLowerCase()) && !known.has(name);
  });
}
