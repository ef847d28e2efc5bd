import sharp, { type Metadata } from 'sharp';
import { TesseraError } from '../../../errors/index.js';
import { builtinSettings } from '../../builtin-settings.js';
import type { Gray } from './resize.js';

// The image as rustface sees it: Teaclave decodes it with the `image` crate 0.23 and takes `to_luma8`,
// which keeps a grey image's bytes and turns colour into Rec. 709 luma computed in f32 and truncated.
// libvips (sharp) decodes here; its own greyscale uses other weights, so the luma is computed below.

// A decoded image is tied to one task: nothing of it is kept for the next one.
sharp.cache(false);

/** What libvips reads that Tessera accepts (Teaclave's build of `image` read JPEG only). */
const FORMATS = new Set(['jpeg', 'png', 'gif', 'webp', 'tiff']);

const R = Math.fround(0.2126);
const G = Math.fround(0.7152);
const B = Math.fround(0.0722);

export async function decodeGray(fn: string, bytes: Buffer): Promise<Gray> {
  const { maxImagePixels } = builtinSettings();
  let meta: Metadata;
  try {
    // The header only (no pixel limit: no pixel is decoded), so that the limit's message can give the size.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new TesseraError('invalid_input', `${fn}: image is not an image it can read (${(err as Error).message})`);
  }
  if (!FORMATS.has(meta.format)) throw new TesseraError('invalid_input', `${fn}: image is ${meta.format}; it reads JPEG, PNG, GIF, WebP and TIFF`);
  const pixels = meta.width * meta.height;
  if (pixels > maxImagePixels) {
    throw new TesseraError('too_large', `${fn}: the image is ${meta.width}×${meta.height} = ${pixels} pixels, more than files.max_image_pixels (${maxImagePixels})`);
  }
  const grey = meta.space === 'b-w' || meta.space === 'grey16';
  let data: Buffer;
  let channels: number;
  let width: number;
  let height: number;
  try {
    // limitInputPixels again: the decoder itself refuses more pixels than the header announced. Only the
    // first frame, as `image` reads a GIF.
    let img = sharp(bytes, { limitInputPixels: maxImagePixels, pages: 1 });
    if (!grey) img = img.toColourspace('srgb');
    const out = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    data = out.data;
    ({ channels, width, height } = out.info);
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) throw new TesseraError('too_large', `${fn}: the image has more pixels than files.max_image_pixels (${maxImagePixels})`);
    throw new TesseraError('invalid_input', `${fn}: image could not be decoded (${message})`);
  }
  const gray = new Uint8Array(width * height);
  const f = Math.fround;
  for (let i = 0, p = 0; i < gray.length; i++, p += channels) {
    // Grey (with or without alpha) is kept as it is; alpha is ignored, as to_luma8 ignores it.
    gray[i] = channels <= 2 ? data[p] : Math.trunc(f(f(f(R * data[p]) + f(G * data[p + 1])) + f(B * data[p + 2])));
  }
  return { data: gray, width, height };
}
