import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'smol-toml';
import { configTemplate, resolveConfig } from './config.js';

test('the template init writes parses back to exactly the defaults', () => {
  const fromTemplate = resolveConfig(parse(configTemplate()));
  assert.deepEqual(fromTemplate, resolveConfig({}));
  assert.equal(fromTemplate.wire.max_frame_bytes, 4 * 1024 * 1024);
  assert.deepEqual(
    Object.fromEntries(['tms_external', 'tms_internal', 'fns', 'kms', 'tdfs_external', 'tdfs_internal'].map((k) => [k, (fromTemplate.wire as any)[k].port])),
    { tms_external: 5554, tms_internal: 5555, fns: 3444, kms: 6016, tdfs_external: 5065, tdfs_internal: 5066 },
  );
});

test('every setting in the template carries a comment', () => {
  const lines = configTemplate().split('\n');
  lines.forEach((line, i) => {
    if (/^[a-z_]+ = /.test(line)) assert.match(lines[i - 1], /^# /, `setting without a comment: ${line}`);
  });
});

test('a partial file keeps the defaults for everything it leaves out', () => {
  const config = resolveConfig({ wire: { fns: { port: 9999 } } });
  assert.equal(config.wire.fns.port, 9999);
  assert.equal(config.wire.fns.enabled, true);
  assert.equal(config.wire.kms.port, 6016);
  assert.equal(config.http.port, 8000);
});

test('unknown keys and wrong types are named in the error', () => {
  assert.throws(() => resolveConfig({ wire: { fns: { prot: 1 } } }, 'tessera.toml'), /tessera.toml: wire.fns must NOT have additional properties \('prot'\)/);
  assert.throws(() => resolveConfig({ http: { port: 'eighty' } }), /http.port must be integer/);
  assert.throws(() => resolveConfig({ http: { port: 70000 } }), /http.port must be <= 65535/);
  assert.throws(() => resolveConfig({ log: { level: 'loud' } }), /log.level must be equal to one of the allowed values/);
});
