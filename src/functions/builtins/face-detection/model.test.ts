import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { MODEL_SHA256, MODEL_URL, frontalModel, loadModel, parseModel } from './model.js';

// The bundled SeetaFace model (models/ at the package root) and the reader's refusals. The detector
// itself is tested through the REST API (test/compat/mesatee/face_detection.test.ts).

const dir = mkdtempSync(join(tmpdir(), 'tessera-face-model-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('the bundled model: 3 LAB cascades, then 2 MLP stages on their windows, then 1 on those', () => {
  const model = frontalModel();
  assert.deepEqual(
    model.hierarchies.map((h) => h.map((c) => c.stages.map((s) => s.kind).join('+'))),
    [['lab', 'lab', 'lab'], ['mlp+mlp'], ['mlp']],
  );
  assert.deepEqual(model.hierarchies[1][0].sources, [0, 1, 2]);
});

test('a model file with another digest is refused, whatever it holds', () => {
  const bytes = readFileSync(MODEL_URL);
  const copy = join(dir, 'changed.bin');
  const changed = Buffer.from(bytes);
  changed[changed.length - 1] ^= 1;
  writeFileSync(copy, changed);
  assert.throws(() => loadModel(pathToFileURL(copy), MODEL_SHA256), /face model: .*changed\.bin has SHA-256 [0-9a-f]{64}, not the bundled model's c4619d06/);
  assert.throws(() => loadModel(pathToFileURL(join(dir, 'missing.bin')), MODEL_SHA256), /face model: cannot read .*missing\.bin/);
});

test('a malformed model is refused with where it went wrong', () => {
  const bytes = readFileSync(MODEL_URL);
  assert.throws(() => parseModel(bytes.subarray(0, 1000)), /face model: ends early \(at byte \d+\)/);
  assert.throws(() => parseModel(Buffer.concat([bytes, Buffer.alloc(4)])), /face model: bytes after the last hierarchy/);
  const unknownKind = Buffer.from(bytes);
  unknownKind.writeInt32LE(7, 12); // hierarchy count, size, stage count, then the first stage's kind
  assert.throws(() => parseModel(unknownKind), /face model: unknown classifier kind 7/);
  const copy = join(dir, 'short.bin');
  writeFileSync(copy, bytes.subarray(0, 1000));
  assert.throws(() => loadModel(pathToFileURL(copy), sha(bytes.subarray(0, 1000))), /face model: ends early/);
});
