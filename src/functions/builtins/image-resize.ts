import sharp, { type Metadata } from 'sharp';
import { TesseraError } from '../../errors/index.js';
import { builtinSettings } from '../builtin-settings.js';
import type { FunctionDefinition } from '../registry.js';
import { decodeBase64, jsonArguments } from './common.js';
import { ICO_MAX_SIDE, encodeBmp, encodeIco, withJfifHeader } from './image-encode.js';

// MesaTEE's image_resize (v0.1 48745a92 and late MesaTEE a02ef46367e0,
// mesatee_services/fns/sgx_trusted_lib/src/trusted_worker/image_resize.rs; examples/image_resizing): the
// payload names the new size, filter and output format and carries the image in base64; the result is the
// resized image, encoded, in base64. MesaTEE resized with the Rust `image` crate 0.21; here libvips, through
// sharp, does it.

// A decoded image is tied to one task: nothing of it is kept for the next one.
sharp.cache(false);

/**
 * `image`'s filters and the libvips kernel used for each. Triangle is the tent kernel and CatmullRom the
 * cubic with B = 0, C = 0.5, which libvips calls linear and cubic; both libraries widen the kernel by the
 * scale when shrinking. libvips has no Gaussian: `image`'s (σ = 0.5 output pixels) is a smooth,
 * non-negative bump, and Mitchell–Netravali is the nearest kernel libvips has (weights at 0.5 pixel: 0.60
 * of the centre's for both), so Gaussian resizes are close to MesaTEE's but not the same.
 */
const KERNELS = {
  Nearest: sharp.kernel.nearest,
  Triangle: sharp.kernel.linear,
  CatmullRom: sharp.kernel.cubic,
  Gaussian: sharp.kernel.mitchell,
  Lanczos3: sharp.kernel.lanczos3,
} as const;

const FORMATS = ['PNG', 'JPEG', 'GIF', 'ICO', 'BMP'] as const;
type OutputFormat = (typeof FORMATS)[number];

/** The encodings `image` 0.21's load_from_memory read that libvips reads too (BMP, ICO, PNM, TGA it cannot). */
const INPUT_FORMATS = new Set(['jpeg', 'png', 'gif', 'webp', 'tiff']);

/** The largest side JPEG and GIF can state (16-bit sizes). */
const MAX_SIDE_16 = 65535;

interface Arguments {
  nwidth: number;
  nheight: number;
  filter_type: keyof typeof KERNELS;
  output_format: OutputFormat;
  base64_image: string;
}

function parseArguments(fn: string, payload: string | null): Arguments {
  const args = jsonArguments<Arguments>(fn, payload, {
    type: 'object',
    required: ['nwidth', 'nheight', 'filter_type', 'output_format', 'base64_image'],
    properties: {
      // u32 in MesaTEE; 0 is refused here, where `image` made an empty image that no encoder writes.
      nwidth: { type: 'integer', minimum: 1, maximum: 4294967295 },
      nheight: { type: 'integer', minimum: 1, maximum: 4294967295 },
      // MesaTEE resized with Nearest and wrote JPEG for any other name; Tessera refuses one it does not know.
      filter_type: { enum: Object.keys(KERNELS) },
      output_format: { enum: FORMATS },
      base64_image: { type: 'string' },
    },
  });
  const { maxImagePixels } = builtinSettings();
  if (args.nwidth * args.nheight > maxImagePixels) {
    throw new TesseraError('too_large', `${fn}: ${args.nwidth}×${args.nheight} is ${args.nwidth * args.nheight} pixels, more than files.max_image_pixels (${maxImagePixels})`);
  }
  const maxSide = args.output_format === 'ICO' ? ICO_MAX_SIDE : args.output_format === 'JPEG' || args.output_format === 'GIF' ? MAX_SIDE_16 : Infinity;
  if (args.nwidth > maxSide || args.nheight > maxSide) {
    throw new TesseraError('invalid_input', `${fn}: ${args.output_format} images are at most ${maxSide} pixels a side; asked for ${args.nwidth}×${args.nheight}`);
  }
  return args;
}

/** Reads the header only: what the image is and how large, before any pixel is decoded. */
async function inspect(fn: string, bytes: Buffer, maxPixels: number): Promise<void> {
  let meta: Metadata;
  try {
    // No pixel limit on reading the header (it decodes no pixels), so that the limit's own message can
    // say how large the image is.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new TesseraError('invalid_input', `${fn}: base64_image is not an image it can read (${(err as Error).message})`);
  }
  if (!INPUT_FORMATS.has(meta.format)) {
    throw new TesseraError('invalid_input', `${fn}: base64_image is ${meta.format}; it reads JPEG, PNG, GIF, WebP and TIFF`);
  }
  const pixels = meta.width * meta.height;
  if (pixels > maxPixels) {
    throw new TesseraError('too_large', `${fn}: the image is ${meta.width}×${meta.height} = ${pixels} pixels, more than files.max_image_pixels (${maxPixels})`);
  }
}

async function resize(fn: string, bytes: Buffer, args: Arguments, maxPixels: number): Promise<Buffer> {
  // limitInputPixels again: the decoder itself refuses more pixels than the header led us to expect.
  // Only the first frame is read, as `image` read a GIF.
  let img = sharp(bytes, { limitInputPixels: maxPixels, pages: 1 });
  // `image` wrote a JPEG of an image with alpha by dropping the alpha channel, not by flattening it
  // (sharp's default); dropping it before the resize also resizes colour without premultiplied alpha, as
  // `image` did.
  if (args.output_format === 'JPEG') img = img.removeAlpha();
  img = img.resize(args.nwidth, args.nheight, { fit: 'fill', kernel: KERNELS[args.filter_type], fastShrinkOnLoad: false });
  try {
    switch (args.output_format) {
      case 'JPEG':
        // `image`'s JPEGs: quality 75, baseline, no chroma subsampling.
        return withJfifHeader(await img.jpeg({ quality: 75, chromaSubsampling: '4:4:4', progressive: false }).toBuffer());
      case 'PNG':
        return await img.png().toBuffer();
      case 'GIF':
        return await img.gif().toBuffer();
      case 'ICO':
        return encodeIco(await img.png().toBuffer(), args.nwidth, args.nheight);
      case 'BMP': {
        const { data, info } = await img.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
        return encodeBmp({ data, width: info.width, height: info.height, channels: info.channels === 4 ? 4 : 3 });
      }
    }
  } catch (err) {
    if (err instanceof TesseraError) throw err;
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) throw new TesseraError('too_large', `${fn}: the image has more pixels than files.max_image_pixels (${maxPixels})`);
    throw new TesseraError('invalid_input', `${fn}: base64_image could not be decoded (${message})`);
  }
}

export const imageResize: FunctionDefinition = {
  name: 'image_resize',
  kind: 'builtin',
  type: 'Single',
  description: 'Resizes the base64 image in the payload to exactly nwidth × nheight; returns the new image in base64',
  interface: {
    payload: 'json',
    arguments: [
      { name: 'nwidth', description: 'new width, pixels', required: true },
      { name: 'nheight', description: 'new height, pixels', required: true },
      { name: 'filter_type', description: 'Nearest, Triangle, CatmullRom, Gaussian or Lanczos3', required: true },
      { name: 'output_format', description: 'PNG, JPEG (quality 75), GIF, ICO or BMP', required: true },
      { name: 'base64_image', description: 'the image (JPEG, PNG, GIF, WebP or TIFF), standard base64', required: true },
    ],
    inputs: [],
    outputs: [],
  },
  run: async (ctx) => {
    const fn = 'image_resize';
    const args = parseArguments(fn, ctx.payload);
    const { maxImagePixels } = builtinSettings();
    const bytes = decodeBase64(fn, 'base64_image', args.base64_image);
    await inspect(fn, bytes, maxImagePixels);
    return (await resize(fn, bytes, args, maxImagePixels)).toString('base64');
  },
};
