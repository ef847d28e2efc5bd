import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir, tessera } from './helpers/cli.js';

test('keygen, sign and verify: RSA with a DER (PKCS#1) public key as MesaTEE ships them, and ECDSA P-256', async () => {
  const dir = tempDir();
  const info = join(dir, 'enclave_info.toml');
  const measured = await tessera(['measure', '--data', join(dir, 'none'), '-o', info]);
  assert.equal(measured.code, 0, measured.stderr);
  assert.match(measured.stderr, /measuring with default settings/);
  const toml = readFileSync(info, 'utf8');
  for (const service of ['tms', 'tdfs', 'kms', 'fns', 'node']) assert.match(toml, new RegExp(`\\[${service}\\]\\nmr_enclave = "[0-9a-f]{64}"\\nmr_signer = "[0-9a-f]{64}"`));

  assert.equal((await tessera(['audit', 'keygen', 'godzilla', '--der', '--out', dir])).code, 0);
  assert.equal((await tessera(['audit', 'keygen', 'optimus', '--type', 'ecdsa', '--out', dir])).code, 0);
  assert.equal(statSync(join(dir, 'godzilla.key.pem')).mode & 0o777, 0o600);
  const again = await tessera(['audit', 'keygen', 'godzilla', '--out', dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /keygen never overwrites/);

  for (const name of ['godzilla', 'optimus']) assert.equal((await tessera(['audit', 'sign', '--key', join(dir, `${name}.key.pem`), info])).code, 0);
  const auditors = ['--auditor', `${join(dir, 'godzilla.pub.der')}:${join(dir, 'godzilla.sign.sha256')}`, '--auditor', `${join(dir, 'optimus.pub.pem')}:${join(dir, 'optimus.sign.sha256')}`];
  const ok = await tessera(['audit', 'verify', info, ...auditors]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok  godzilla\nok  optimus\n/);
  assert.match(ok.stdout, new RegExp(`sha256 ${createHash('sha256').update(readFileSync(info)).digest('hex')}`));

  writeFileSync(info, toml.replace('[tms]', '[tms] '));
  const tampered = await tessera(['audit', 'verify', info, ...auditors]);
  assert.equal(tampered.code, 4); // verification failed (docs/cli.md)
  assert.match(tampered.stderr, /auditor check failed: the signature of 'godzilla' does not verify over enclave_info.toml/);

  const none = await tessera(['audit', 'verify', info]);
  assert.match(none.stderr, /no auditors given/);
  const twice = await tessera(['audit', 'verify', info, '--auditor', `${join(dir, 'optimus.pub.pem')}:${join(dir, 'optimus.sign.sha256')}`, '--auditor', `${join(dir, 'optimus.pub.pem')}:${join(dir, 'optimus.sign.sha256')}`]);
  assert.match(twice.stderr, /uses the same key as another auditor/);
  const malformed = await tessera(['audit', 'verify', info, '--auditor', 'just-a-key.pem']);
  assert.match(malformed.stderr, /--auditor takes PUBLIC_KEY:SIGNATURE/);
});
