import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { CONFIG_SCHEMA } from '../src/node/config-schema.js';
import { resolveConfig } from '../src/node/config.js';

// Issue 22 moved each section of tessera.toml's schema beside its capability (src/*/options.ts, TypeBox).
// test/fixtures/config-schema.json is JSON.stringify of the hand-written CONFIG_SCHEMA it replaced
// (commit 8b5a717): the composed schema must be that same JSON schema, so that validation, defaults, the
// `tessera init` template and the TESSERA_* variables all stay as they were. When a setting is changed on
// purpose, regenerate the fixture from the new schema (JSON.stringify(CONFIG_SCHEMA, null, 2) + '\n').

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const fixture = () => JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'config-schema.json'), 'utf8'));

interface Node {
  properties?: Record<string, Node>;
}

/** Every setting and table as a dotted path, in declaration order (the template's and the variables' order). */
const paths = (node: Node, prefix: string[] = []): string[] =>
  Object.entries(node.properties ?? {}).flatMap(([key, child]) => [[...prefix, key].join('.'), ...paths(child, [...prefix, key])]);

test('the composed TypeBox schema is, as JSON, the hand-written one it replaced', () => {
  // TypeBox's own keys are symbols, which JSON leaves out; what remains is what ajv reads.
  assert.deepStrictEqual(JSON.parse(JSON.stringify(CONFIG_SCHEMA)), fixture());
});

test('its settings come in the same order (deepStrictEqual alone does not compare the order of keys)', () => {
  const expected = paths(fixture());
  assert.equal(expected.length, 132);
  assert.deepStrictEqual(paths(CONFIG_SCHEMA as Node), expected);
});

test('the same defaults, and the same errors for the same bad settings', () => {
  // Each schema compiled as config.ts compiles it: a valid input comes back filled in, a bad one as its errors.
  const run = (schema: object) => {
    const validate = new Ajv({ useDefaults: true, allErrors: true, strict: false }).compile(schema);
    return (raw: unknown) => {
      const copy = structuredClone(raw);
      return validate(copy) ? copy : validate.errors!.map(({ instancePath, keyword, params, message }) => ({ instancePath, keyword, params, message }));
    };
  };
  const [byOld, byNew] = [run(fixture()), run(CONFIG_SCHEMA)];
  assert.deepStrictEqual(resolveConfig({}), byOld({}));
  const inputs: unknown[] = [
    {},
    { http: { port: 9000 }, workflows: { resources: { serverless: [{ class_type: 'f', function_url: 'http://x/f' }] } } },
    { http: { port: 70000 } },
    { log: { level: 'loud' } },
    { nope: 1 },
    { node: { extra: 1 } },
    { http: 5 },
    { workflows: { resources: { serverless: [{ class_type: '' }] } } },
    { fn: { cpus: 0, confinement: 'docker' } },
    { wire: { kms: { port: -1, x: 1 } } },
    { limits: { user_requests_per_second: 'a' } },
    { attestation: { provider: 'x' } },
    { workflows: { egress_hosts: [1] } },
    { tasks: { python_memory_mib: 1e9 } },
    { files: { max_file_bytes: 1.5 } },
    [],
    { security: null },
  ];
  for (const raw of inputs) assert.deepStrictEqual(byNew(raw), byOld(raw), JSON.stringify(raw));
});
