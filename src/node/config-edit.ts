import { stringify } from 'smol-toml';
import { TesseraError } from '../errors/index.js';
import { ENV_SETTINGS, parseValue } from './config-env.js';

// `tessera init --set section.key=value`: settings written into the new tessera.toml itself, each on its
// line of the commented template, so the file keeps its comments and the node needs no variables to find
// (for instance) the PostgreSQL database and NATS server of its cluster.

/** `path=value` → the setting and its typed value, checked against the schema as a variable's would be. */
export function parseAssignment(assignment: string): { path: string[]; value: unknown } {
  const eq = assignment.indexOf('=');
  if (eq < 1) throw new TesseraError('invalid_input', `--set takes section.key=value, not '${assignment}'`);
  const name = assignment.slice(0, eq).trim();
  const setting = ENV_SETTINGS.find((s) => s.path.join('.') === name);
  if (!setting) throw new TesseraError('invalid_input', `--set ${name}: tessera.toml has no such setting (docs/configuration.md lists them)`);
  return { path: setting.path, value: parseValue({ ...setting, variable: `--set ${name}` }, assignment.slice(eq + 1)) };
}

/** The template text with `path`'s line set to `value`; the section header and the key line must exist. */
export function setSetting(text: string, path: string[], value: unknown): string {
  const section = path.slice(0, -1).join('.');
  const key = path[path.length - 1];
  const lines = text.split('\n');
  const header = lines.findIndex((l) => l.trim() === `[${section}]`);
  if (header < 0) throw new TesseraError('internal', `the template has no [${section}] table`);
  for (let i = header + 1; i < lines.length && !lines[i].startsWith('['); i++) {
    if (new RegExp(`^${key}\\s*=`).test(lines[i])) {
      // smol-toml writes the value as TOML (quoting strings, arrays as arrays).
      lines[i] = stringify({ [key]: value }).trim();
      return lines.join('\n');
    }
  }
  throw new TesseraError('internal', `the template's [${section}] table has no line for ${key}`);
}
