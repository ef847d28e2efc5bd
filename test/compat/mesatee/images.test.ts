import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { REPO, type TestNode, startNode } from '../../helpers/cli.js';
import { builtinTasks } from '../../helpers/builtin-tasks.js';

// MesaTEE's image_resize (v0.1 and late MesaTEE) on its own example, examples/image_resizing (see
// README.md here), through the REST API as users run built-ins.

const vector = (file: string) => readFileSync(join(REPO, 'test/compat/mesatee/image_resize', file));
const logo = vector('logo.png'); // 450×105 RGBA

/** Below 450×105 = 47250 would refuse the example itself; 300×200 = 60000 is over it. */
const MAX_PIXELS = 50000;

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

interface Args {
  nwidth?: unknown;
  nheight?: unknown;
  filter_type?: unknown;
  output_format?: unknown;
  base64_image?: unknown;
}
const args = (over: Args = {}): Args => ({ nwidth: 100, nheight: 100, filter_type: 'Nearest', output_format: 'JPEG', base64_image: logo.toString('base64'), ...over });

/** Runs image_resize; a failed task must have saved no result file. */
async function resize(payload: Args | string | null) {
  const r = await tasks.run('image_resize', { payload: payload === null || typeof payload === 'string' ? payload : JSON.stringify(payload) });
  if (r.status !== 200) {
    const view = await r.view();
    assert.equal(view.status, 'Failed');
    assert.deepEqual(view.user_private_result_file_id ?? [], [], 'no private results');
    assert.ok(!view.task_result_file_id, 'no shared result');
  }
  return r;
}

/**
 * What file(1) says of a JPEG, from its JFIF APP0 and start-of-frame segments, in the words of MesaTEE's
 * expected_result.txt (older file(1) called the component count "frames").
 */
function describeJpeg(jpeg: Buffer): string {
  assert.deepEqual([jpeg[0], jpeg[1]], [0xff, 0xd8], 'SOI');
  const parts = ['JPEG image data'];
  let at = 2;
  for (;;) {
    assert.equal(jpeg[at], 0xff, `a marker at ${at}`);
    const marker = jpeg[at + 1];
    const length = jpeg.readUInt16BE(at + 2);
    const body = jpeg.subarray(at + 4, at + 2 + length);
    if (marker === 0xe0 && body.subarray(0, 5).toString('latin1') === 'JFIF\0') {
      const units = ['aspect ratio', 'resolution (DPI)', 'resolution (DPCM)'][body[7]];
      parts.push(`JFIF standard ${body[5]}.${String(body[6]).padStart(2, '0')}`, units, `density ${body.readUInt16BE(8)}x${body.readUInt16BE(10)}`, `segment length ${length}`);
    }
    if (marker >= 0xc0 && marker <= 0xc2) {
      parts.push(marker === 0xc0 ? 'baseline' : marker === 0xc1 ? 'extended sequential' : 'progressive');
      parts.push(`precision ${body[0]}`, `${body.readUInt16BE(3)}x${body.readUInt16BE(1)}`, `frames ${body[5]}`);
      return parts.join(', ');
    }
    at += 2 + length;
  }
}

const mean = async (img: Buffer) => (await sharp(img).removeAlpha().stats()).channels.map((c) => c.mean);

describe('image_resize (MesaTEE examples/image_resizing)', () => {
  test('logo.png to 100×100, Nearest, JPEG: the JPEG expected_result.txt describes, returned in base64', async () => {
    // image_resize_demo.sh: WIDTH=100 HEIGHT=100 FILTER=Nearest OUTPUT_FORMAT=JPEG, then
    // `file logo.jpg` compared with expected_result.txt.
    const r = await resize(args());
    assert.equal(r.status, 200, r.body);
    const jpeg = Buffer.from(r.result, 'base64');
    assert.equal(jpeg.toString('base64'), r.result, 'standard base64 of the whole file');
    const expected = vector('expected_result.txt').toString().trim().replace(/^\.\/logo\.jpg: /, '');
    assert.equal(describeJpeg(jpeg), expected);
    const meta = await sharp(jpeg).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels, meta.chromaSubsampling], ['jpeg', 100, 100, 3, '4:4:4']);
    // The picture itself: alpha dropped as MesaTEE's encoder dropped it, the colours kept. Nearest picks
    // source pixels, so every channel's mean stays within 8 of the logo's (observed: within 3).
    const [want, got] = [await mean(logo), await mean(jpeg)];
    got.forEach((m, i) => assert.ok(Math.abs(m - want[i]) < 8, `channel ${i}: ${m} against ${want[i]}`));
    assert.deepEqual((await r.view()).user_private_result_file_id ?? [], [], 'the image is the result string; no file is saved');
  });

  test('each output format, with its own signature and the asked size', async () => {
    const png = Buffer.from((await resize(args({ output_format: 'PNG', nwidth: 45, nheight: 21 }))).result, 'base64');
    assert.deepEqual(await sharp(png).metadata().then((m) => [m.format, m.width, m.height, m.hasAlpha]), ['png', 45, 21, true], 'PNG keeps alpha');
    const gif = Buffer.from((await resize(args({ output_format: 'GIF', nwidth: 30, nheight: 7 }))).result, 'base64');
    assert.equal(gif.subarray(0, 6).toString('latin1'), 'GIF89a');
    assert.deepEqual(await sharp(gif).metadata().then((m) => [m.format, m.width, m.height]), ['gif', 30, 7]);

    const ico = Buffer.from((await resize(args({ output_format: 'ICO', nwidth: 256, nheight: 64 }))).result, 'base64');
    assert.deepEqual([ico.readUInt16LE(0), ico.readUInt16LE(2), ico.readUInt16LE(4)], [0, 1, 1], 'ICONDIR: an icon of one image');
    assert.deepEqual([ico[6], ico[7], ico.readUInt16LE(12)], [0, 64, 32], 'entry: 256 (as 0) × 64, 32 bits');
    const inner = ico.subarray(ico.readUInt32LE(18));
    assert.equal(inner.length, ico.readUInt32LE(14));
    assert.deepEqual(await sharp(inner).metadata().then((m) => [m.format, m.width, m.height]), ['png', 256, 64], 'a PNG inside');

    const bmp = Buffer.from((await resize(args({ output_format: 'BMP', nwidth: 3, nheight: 2 }))).result, 'base64');
    assert.equal(bmp.subarray(0, 2).toString('latin1'), 'BM');
    assert.equal(bmp.readUInt32LE(2), bmp.length);
    assert.deepEqual([bmp.readUInt32LE(14), bmp.readInt32LE(18), bmp.readInt32LE(22), bmp.readUInt16LE(28), bmp.readUInt32LE(30)], [108, 3, 2, 32, 3], 'RGBA: V4 header, 32 bits, bit fields');
    assert.equal(bmp.length - bmp.readUInt32LE(10), 3 * 4 * 2);
  });

  test('a BMP of an opaque image is 24-bit, rows bottom-up and padded', async () => {
    // 2×2: red, green over blue, white; a Nearest resize to the same size keeps every pixel.
    const raw = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
    const src = await sharp(raw, { raw: { width: 2, height: 2, channels: 3 } }).png().toBuffer();
    const bmp = Buffer.from((await resize(args({ output_format: 'BMP', nwidth: 2, nheight: 2, base64_image: src.toString('base64') }))).result, 'base64');
    assert.deepEqual([bmp.readUInt32LE(14), bmp.readUInt16LE(28), bmp.readUInt32LE(30)], [40, 24, 0], 'BITMAPINFOHEADER, 24 bits, BI_RGB');
    const pixels = [...bmp.subarray(bmp.readUInt32LE(10))];
    // Bottom row first (blue, white), BGR, each row padded from 6 to 8 bytes.
    assert.deepEqual(pixels, [255, 0, 0, 255, 255, 255, 0, 0, 0, 0, 255, 0, 255, 0, 0, 0]);
  });

  test('each filter is used: the same shrink differs between them, and Nearest keeps source colours', async () => {
    const out: Record<string, Buffer> = {};
    for (const filter of ['Nearest', 'Triangle', 'CatmullRom', 'Gaussian', 'Lanczos3']) {
      const r = await resize(args({ filter_type: filter, output_format: 'PNG', nwidth: 90, nheight: 21 }));
      assert.equal(r.status, 200, `${filter}: ${r.body}`);
      out[filter] = await sharp(Buffer.from(r.result, 'base64')).raw().toBuffer();
      assert.equal(out[filter].length, 90 * 21 * 4, filter);
    }
    const names = Object.keys(out);
    for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) assert.ok(!out[names[i]].equals(out[names[j]]), `${names[i]} and ${names[j]} differ`);
    // A two-colour source: point sampling can only give those two colours; the others blend them.
    const stripes = await sharp(Buffer.from(Array.from({ length: 40 }, (_, i) => (i % 2 ? [0, 0, 0] : [255, 255, 255])).flat()), { raw: { width: 40, height: 1, channels: 3 } }).png().toBuffer();
    const values = async (filter: string) => new Set(await sharp(Buffer.from((await resize(args({ filter_type: filter, output_format: 'PNG', nwidth: 13, nheight: 1, base64_image: stripes.toString('base64') }))).result, 'base64')).raw().toBuffer());
    assert.deepEqual([...(await values('Nearest'))].sort((a, b) => a - b), [0, 255]);
    assert.ok((await values('Triangle')).size > 2);
  });

  test('enlarges as well, and reads JPEG, GIF, WebP and TIFF', async () => {
    const up = await resize(args({ output_format: 'PNG', nwidth: 200, nheight: 220 }));
    assert.deepEqual(await sharp(Buffer.from(up.result, 'base64')).metadata().then((m) => [m.width, m.height]), [200, 220]);
    for (const format of ['jpeg', 'gif', 'webp', 'tiff'] as const) {
      const src = await sharp(logo).toFormat(format).toBuffer();
      const r = await resize(args({ output_format: 'PNG', nwidth: 10, nheight: 10, base64_image: src.toString('base64') }));
      assert.equal(r.status, 200, `${format}: ${r.body}`);
    }
  });
});

describe('image_resize: bad input fails the task with a reason and no result', () => {
  test('an input that is not an image, or not one it reads', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    const cases: Array<[Args, RegExp]> = [
      [args({ base64_image: Buffer.from('name,amount\nalice,1\n').toString('base64') }), /image_resize: base64_image is not an image it can read \(.+\)/],
      [args({ base64_image: '' }), /image_resize: base64_image is not an image it can read/],
      [args({ base64_image: svg.toString('base64') }), /image_resize: base64_image is svg; it reads JPEG, PNG, GIF, WebP and TIFF/],
      [args({ base64_image: logo.subarray(0, 2000).toString('base64') }), /image_resize: base64_image could not be decoded \(.+\)/],
      [args({ base64_image: 'not base64!' }), /image_resize: base64_image is not standard base64/],
    ];
    for (const [payload, message] of cases) {
      const r = await resize(payload);
      assert.equal(r.status, 400, `${String(payload.base64_image).slice(0, 20)}: ${r.body}`);
      assert.equal(r.error!.code, 'InvalidInput');
      assert.match(r.error!.message, message);
    }
  });

  test('an image larger than files.max_image_pixels, or a size above it', async () => {
    const big = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } }).png().toBuffer();
    const r = await resize(args({ base64_image: big.toString('base64') }));
    assert.equal(r.status, 413, r.body);
    assert.equal(r.error!.code, 'RequestTooLarge');
    assert.equal(r.error!.message, `image_resize: the image is 300×200 = 60000 pixels, more than files.max_image_pixels (${MAX_PIXELS})`);
    const out = await resize(args({ nwidth: 250, nheight: 250 }));
    assert.equal(out.status, 413, out.body);
    assert.equal(out.error!.message, `image_resize: 250×250 is 62500 pixels, more than files.max_image_pixels (${MAX_PIXELS})`);
  });

  test('bad arguments: sizes, filter, format, missing or mistyped fields, no payload', async () => {
    const cases: Array<[Args | string | null, RegExp]> = [
      [args({ nwidth: 0 }), /image_resize: nwidth must be >= 1/],
      [args({ nheight: -5 }), /image_resize: nheight must be >= 1/],
      [args({ nwidth: 1.5 }), /image_resize: nwidth must be integer/],
      [args({ nwidth: '100' }), /image_resize: nwidth must be integer/],
      [args({ nwidth: 4294967296 }), /image_resize: nwidth must be <= 4294967295/],
      [args({ nwidth: 4294967295, nheight: 1 }), /4294967295×1 is 4294967295 pixels, more than files.max_image_pixels/],
      [args({ filter_type: 'Bicubic' }), /image_resize: filter_type must be equal to one of the allowed values/],
      [args({ output_format: 'TIFF' }), /image_resize: output_format must be equal to one of the allowed values/],
      [args({ output_format: 'jpeg' }), /image_resize: output_format must be equal to one of the allowed values/],
      [args({ output_format: 'ICO', nwidth: 257, nheight: 10 }), /image_resize: ICO images are at most 256 pixels a side; asked for 257×10/],
      [{ nwidth: 10, nheight: 10, filter_type: 'Nearest', output_format: 'PNG' }, /image_resize: arguments must have required property 'base64_image'/],
      ['[1,2]', /image_resize: arguments must be object/],
      ['{"nwidth":', /image_resize: the payload must be a JSON object of arguments/],
    ];
    for (const [payload, message] of cases) {
      const r = await resize(payload);
      assert.equal(r.status, message.source.includes('max_image_pixels') ? 413 : 400, `${JSON.stringify(payload).slice(0, 80)}: ${r.body}`);
      assert.match(r.error!.message, message);
    }
    const none = await resize(null);
    assert.equal(none.status, 400);
    assert.match(none.error!.message, /image_resize needs its arguments as a JSON object in "payload"/);
  });
});
