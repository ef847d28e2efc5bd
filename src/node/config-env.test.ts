import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENV_SETTINGS, unknownEnvVariables } from './config-env.js';
import { loadConfig } from './config.js';

function withFile(toml: string, run: (path: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-config-env-'));
  try {
    const path = join(dir, 'tessera.toml');
    writeFileSync(path, toml);
    run(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('every setting has a variable, and no two share one', () => {
  const names = ENV_SETTINGS.map((s) => s.variable);
  assert.equal(new Set(names).size, names.length);
  assert.ok(names.includes('TESSERA_HTTP_PORT'));
  assert.ok(names.includes('TESSERA_WIRE_TMS_EXTERNAL_PORT'));
  assert.ok(names.includes('TESSERA_WORKFLOWS_RESOURCES_FILE_LOG_ENABLED'));
});

test('docs/operations.md lists every variable', () => {
  const doc = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
  for (const s of ENV_SETTINGS) assert.ok(doc.includes(`| \`${s.variable}\` | \`${s.path.join('.')}\` |`), `${s.variable} is not in docs/operations.md`);
});

test('integers, numbers, booleans, enums, strings and lists, over the file and the defaults', () => {
  withFile('[http]\nport = 9000\n[workflows]\negress_hosts = ["file.example"]\n', (path) => {
    const none = loadConfig(path, {});
    assert.equal(none.http.port, 9000, 'the file over the default');
    const c = loadConfig(path, {
      TESSERA_HTTP_PORT: '8443',
      TESSERA_FN_CPUS: '0.5',
      TESSERA_FN_ALLOW_EGRESS: 'true',
      TESSERA_HTTP_ENABLED: '0',
      TESSERA_LOG_FORMAT: 'json',
      TESSERA_NODE_ADVERTISE_IP: '10.0.0.7',
      TESSERA_WORKFLOWS_EGRESS_HOSTS: 'api.example.com, localhost:9000',
      TESSERA_WORKFLOWS_LABELS: '["region=eu","tier=gold"]',
      TESSERA_WORKFLOWS_RESOURCES_SERVERLESS: '[{"class_type":"f","function_url":"http://localhost:1/f"}]',
      TESSERA_WORKFLOWS_RESOURCES_REDIS_ALLOWED_URLS: '',
    });
    assert.equal(c.http.port, 8443, 'the environment over the file');
    assert.equal(c.fn.cpus, 0.5);
    assert.equal(c.fn.allow_egress, true);
    assert.equal(c.http.enabled, false);
    assert.equal(c.log.format, 'json');
    assert.equal(c.node.advertise_ip, '10.0.0.7');
    assert.deepEqual(c.workflows.egress_hosts, ['api.example.com', 'localhost:9000']);
    assert.deepEqual(c.workflows.labels, ['region=eu', 'tier=gold']);
    assert.deepEqual(c.workflows.resources.serverless, [{ class_type: 'f', function_url: 'http://localhost:1/f', version: '0.1' }], 'defaults fill in inside a table from the environment');
    assert.deepEqual(c.workflows.resources.redis.allowed_urls, []);
    assert.equal(c.wire.fns.port, 3444, 'everything else keeps its default');
  });
});

test('a bad value names the variable', () => {
  withFile('', (path) => {
    assert.throws(() => loadConfig(path, { TESSERA_HTTP_PORT: 'eighty' }), /^TesseraError: environment variable TESSERA_HTTP_PORT \(http.port\) must be an integer, not 'eighty'$/);
    assert.throws(() => loadConfig(path, { TESSERA_HTTP_ENABLED: 'yes please' }), /TESSERA_HTTP_ENABLED \(http.enabled\) must be true or false/);
    assert.throws(() => loadConfig(path, { TESSERA_FN_CPUS: 'lots' }), /TESSERA_FN_CPUS \(fn.cpus\) must be a number/);
    assert.throws(() => loadConfig(path, { TESSERA_WORKFLOWS_LABELS: '["a",' }), /TESSERA_WORKFLOWS_LABELS \(workflows.labels\) must be a JSON array/);
    assert.throws(() => loadConfig(path, { TESSERA_WORKFLOWS_RESOURCES_SERVERLESS: 'f,g' }), /TESSERA_WORKFLOWS_RESOURCES_SERVERLESS .* must be a JSON array/);
    // Parsed, then refused by the schema: the message still names the variable.
    assert.throws(() => loadConfig(path, { TESSERA_HTTP_PORT: '70000' }), /http.port \(environment variable TESSERA_HTTP_PORT\) must be <= 65535/);
    assert.throws(() => loadConfig(path, { TESSERA_LOG_LEVEL: 'loud' }), /log.level \(environment variable TESSERA_LOG_LEVEL\) must be equal to one of the allowed values/);
  });
});

test("a variable that names no setting under a section is reported; the CLI's own are not", () => {
  assert.deepEqual(unknownEnvVariables({ TESSERA_HTTP_PROT: '1', TESSERA_URL: 'https://x', TESSERA_CA: 'ca.pem', TESSERA_HTTP_PORT: '1', PATH: '/bin' }), ['TESSERA_HTTP_PROT']);
});
