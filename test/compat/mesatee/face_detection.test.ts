import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { REPO, type TestNode, startNode } from '../../helpers/cli.js';
import { builtinTasks } from '../../helpers/builtin-tasks.js';

// Teaclave's builtin-face-detection (function/src/face_detection.rs at ce4c75c9) on its own fixture (see
// README.md here), through the REST API as users run built-ins. Teaclave ran rustface; Tessera runs its own
// port of rustface with the same SeetaFace model, so the count of faces is Teaclave's exactly.

const photo = readFileSync(join(REPO, 'test/compat/mesatee/face_detection/input.jpg')); // 1666×1136
const WIDTH = 1666;
const HEIGHT = 1136;

/** Just over the fixture's 1666 × 1136 = 1892576 pixels. */
const MAX_PIXELS = 2_000_000;

/** Teaclave's unit test, test_face_detection. */
const TEACLAVE_ARGS = { min_face_size: 20, score_thresh: 2.0, pyramid_scale_factor: 0.8, slide_window_step_x: 4, slide_window_step_y: 4 };

let node: TestNode;
before(async () => {
  node = await startNode({
    users: ['alice'],
    config: (c) => {
      c.log.level = 'warn';
      c.files = { ...c.files, max_image_pixels: MAX_PIXELS };
    },
  });
});
after(() => node.cleanup());

const tasks = builtinTasks(() => node);

/** Runs face_detection; a failed task must have saved no result file. */
async function detect(payload: object | string | null) {
  const r = await tasks.run('face_detection', { payload: payload === null || typeof payload === 'string' ? payload : JSON.stringify(payload) });
  const view = await r.view();
  assert.deepEqual(view.user_private_result_file_id ?? [], [], 'no private results');
  assert.ok(!view.task_result_file_id, 'no shared result');
  if (r.status !== 200) assert.equal(view.status, 'Failed');
  return r;
}

interface Face {
  bbox: { x: number; y: number; width: number; height: number };
  roll: number;
  pitch: number;
  yaw: number;
  score: number;
}

/** The same crop of the photo (its top left, 12 faces of the back rows) for the cheaper checks. */
const crop = () => sharp(photo).extract({ left: 0, top: 0, width: 900, height: 450 }).jpeg({ quality: 95 }).toBuffer();

describe('face_detection: Teaclave\'s fixture and arguments', () => {
  let teaclaveResult = '';

  test('input.jpg with the unit test\'s arguments, the image as a JSON array of bytes: 29 faces, in rustface\'s FaceInfo JSON', async () => {
    const r = await detect({ image: [...photo], ...TEACLAVE_ARGS });
    assert.equal(r.status, 200, r.body);
    teaclaveResult = r.result;
    const faces = JSON.parse(r.result) as Face[];
    assert.equal(faces.length, 29);
    // serde's layout of FaceInfo { bbox: Rectangle { x, y, width, height }, roll, pitch, yaw, score }.
    for (const text of r.result.slice(1, -1).split(/,(?=\{"bbox")/)) {
      assert.match(text, /^\{"bbox":\{"x":-?\d+,"y":-?\d+,"width":\d+,"height":\d+\},"roll":0\.0,"pitch":0\.0,"yaw":0\.0,"score":\d+\.\d+\}$/);
    }
    for (const { bbox, score } of faces) {
      assert.equal(bbox.width, bbox.height, 'square boxes');
      assert.ok(bbox.x >= 0 && bbox.y >= 0 && bbox.x + bbox.width <= WIDTH && bbox.y + bbox.height <= HEIGHT, `inside the image: ${JSON.stringify(bbox)}`);
      assert.ok(bbox.width >= 40 && bbox.width <= 100, `a face's size in this photo: ${bbox.width}`);
      assert.ok(score >= TEACLAVE_ARGS.score_thresh, `score ${score} ≥ score_thresh`);
    }
    // The last merge keeps no two boxes overlapping by more than 0.3 of their union.
    for (let i = 0; i < faces.length; i++) {
      for (let j = i + 1; j < faces.length; j++) {
        const [a, b] = [faces[i].bbox, faces[j].bbox];
        const w = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
        const h = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
        const iou = (w * h) / (a.width * a.height + b.width * b.height - w * h);
        assert.ok(iou <= 0.3, `faces ${i} and ${j} overlap by ${iou}`);
      }
    }
  });

  test('the image in base64 gives the same result', async () => {
    const r = await detect({ image: photo.toString('base64'), ...TEACLAVE_ARGS });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.result, teaclaveResult);
  });

  test('score_thresh keeps exactly the faces scoring at least it', async () => {
    const r = await detect({ image: photo.toString('base64'), ...TEACLAVE_ARGS, score_thresh: 10 });
    assert.equal(r.status, 200, r.body);
    const all = JSON.parse(teaclaveResult) as Face[];
    const kept = JSON.parse(r.result) as Face[];
    assert.deepEqual(kept, all.filter((f) => f.score >= 10));
    assert.ok(kept.length > 0 && kept.length < all.length, `${kept.length} of ${all.length}`);
  });
});

describe('face_detection: the other arguments mean what they do in rustface', () => {
  let defaults: Face[] = [];
  before(async () => {
    const r = await detect({ image: (await crop()).toString('base64') });
    assert.equal(r.status, 200, r.body);
    defaults = JSON.parse(r.result) as Face[];
  });

  test('on the crop, rustface\'s defaults find faces', () => {
    assert.ok(defaults.length >= 5, `${defaults.length} faces`);
  });

  test('the steps apply as a pair, as Teaclave sets them; a lone step changes nothing', async () => {
    const image = (await crop()).toString('base64');
    const lone = await detect({ image, slide_window_step_x: 40 });
    assert.equal(lone.status, 200, lone.body);
    assert.deepEqual(JSON.parse(lone.result), defaults);
    const pair = await detect({ image, slide_window_step_x: 40, slide_window_step_y: 40 });
    assert.equal(pair.status, 200, pair.body);
    assert.notDeepEqual(JSON.parse(pair.result), defaults);
  });

  test('window_size and min_face_size are checked but, as in rustface, change nothing', async () => {
    const r = await detect({ image: (await crop()).toString('base64'), window_size: 100, min_face_size: 200 });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.result), defaults);
  });

  test('null for an optional argument means absent, as serde reads an Option', async () => {
    const nulls = { window_size: null, slide_window_step_x: null, slide_window_step_y: null, min_face_size: null, max_face_size: null, pyramid_scale_factor: null, score_thresh: null };
    const r = await detect({ image: (await crop()).toString('base64'), ...nulls });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.result), defaults);
  });

  test('colour is turned to grey as the image crate\'s to_luma8 does (Rec. 709 in f32, truncated), alpha ignored', async () => {
    const { data, info } = await sharp(await crop()).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const f = Math.fround;
    const grey = Buffer.alloc(info.width * info.height);
    const rgba = Buffer.alloc(info.width * info.height * 4);
    for (let i = 0; i < grey.length; i++) {
      const [r, g, b] = [data[3 * i], data[3 * i + 1], data[3 * i + 2]];
      grey[i] = Math.trunc(f(f(f(f(0.2126) * r) + f(f(0.7152) * g)) + f(f(0.0722) * b)));
      rgba.set([r, g, b, (i * 37) % 256], 4 * i);
    }
    const png = (raw: Buffer, channels: 1 | 4) => sharp(raw, { raw: { width: info.width, height: info.height, channels } }).png().toBuffer();
    const results = [];
    for (const image of [await png(grey, 1), await png(rgba, 4)]) {
      const r = await detect({ image: image.toString('base64') });
      assert.equal(r.status, 200, r.body);
      results.push(r.result);
    }
    assert.ok((JSON.parse(results[0]) as Face[]).length > 0);
    assert.equal(results[1], results[0]);
  });

  test('max_face_size below the 40-pixel window leaves no scale to scan: no faces', async () => {
    const r = await detect({ image: (await crop()).toString('base64'), max_face_size: 39 });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.result, '[]');
  });
});

describe('face_detection: bad input fails the task with a reason and no result', () => {
  test('an input that is not an image, or not a list of bytes', async () => {
    const cases: Array<[object, RegExp]> = [
      [{ image: [...Buffer.from('name,amount\nalice,1\n')] }, /^face_detection: image is not an image it can read \(.+\)$/],
      [{ image: [] }, /^face_detection: image is not an image it can read/],
      [{ image: [...photo.subarray(0, 5000)] }, /^face_detection: image could not be decoded \(.+\)$/],
      [{ image: [255, 216, 256] }, /^face_detection: image\[2\] is 256, not a byte \(0 to 255\)$/],
      [{ image: [255, -1] }, /^face_detection: image\[1\] is -1, not a byte/],
      [{ image: ['a'] }, /^face_detection: image\[0\] is "a", not a byte/],
      [{ image: 'not base64!' }, /^face_detection: image is not standard base64$/],
      [{ image: { data: [1] } }, /^face_detection: image must be array,string$/],
    ];
    for (const [payload, message] of cases) {
      const r = await detect(payload);
      assert.equal(r.status, 400, `${JSON.stringify(payload).slice(0, 40)}: ${r.body}`);
      assert.equal(r.error!.code, 'InvalidInput');
      assert.match(r.error!.message, message);
    }
  });

  test('an image larger than files.max_image_pixels', async () => {
    const big = await sharp({ create: { width: 1500, height: 1400, channels: 3, background: '#808080' } }).png().toBuffer();
    const r = await detect({ image: big.toString('base64') });
    assert.equal(r.status, 413, r.body);
    assert.equal(r.error!.code, 'RequestTooLarge');
    assert.equal(r.error!.message, `face_detection: the image is 1500×1400 = 2100000 pixels, more than files.max_image_pixels (${MAX_PIXELS})`);
  });

  test('arguments out of rustface\'s limits (where rustface panicked), mistyped or missing', async () => {
    const image = [...photo.subarray(0, 4)];
    const cases: Array<[object | string, RegExp]> = [
      [{ image, window_size: 10 }, /^face_detection: window_size must be >= 20$/],
      [{ image, slide_window_step_x: 0, slide_window_step_y: 4 }, /^face_detection: slide_window_step_x must be >= 1$/],
      [{ image, slide_window_step_x: 4, slide_window_step_y: 0 }, /^face_detection: slide_window_step_y must be >= 1$/],
      [{ image, min_face_size: 19 }, /^face_detection: min_face_size must be >= 20$/],
      [{ image, pyramid_scale_factor: 1.5 }, /^face_detection: pyramid_scale_factor is 1.5; it must lie in \[0.01, 0.99\]$/],
      [{ image, pyramid_scale_factor: 0.001 }, /^face_detection: pyramid_scale_factor is 0.001; it must lie in \[0.01, 0.99\]$/],
      [{ image, score_thresh: 0 }, /^face_detection: score_thresh must be > 0$/],
      [{ image, score_thresh: -1 }, /^face_detection: score_thresh must be > 0$/],
      [{ image, max_face_size: -1 }, /^face_detection: max_face_size must be >= 0$/],
      [{ image, window_size: 40.5 }, /^face_detection: window_size must be integer,null$/],
      [{ image, slide_window_step_x: 4294967296, slide_window_step_y: 4 }, /^face_detection: slide_window_step_x must be <= 4294967295$/],
      [{ image, score_thresh: '2.0' }, /^face_detection: score_thresh must be number,null$/],
      [{ image: null }, /^face_detection: image must be array,string$/],
      [{ min_face_size: 20 }, /^face_detection: arguments must have required property 'image'$/],
      ['[1,2]', /^face_detection: arguments must be object/],
      ['{"image":', /^face_detection: the payload must be a JSON object of arguments$/],
    ];
    for (const [payload, message] of cases) {
      const r = await detect(payload);
      assert.equal(r.status, 400, `${JSON.stringify(payload).slice(0, 80)}: ${r.body}`);
      assert.equal(r.error!.code, 'InvalidInput');
      assert.match(r.error!.message, message);
    }
    const none = await detect(null);
    assert.equal(none.status, 400);
    assert.match(none.error!.message, /^face_detection needs its arguments as a JSON object in "payload"$/);
  });
});
