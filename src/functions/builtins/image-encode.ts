// Output encodings that MesaTEE's image_resize wrote (through the Rust `image` crate 0.21) and that sharp
// does not: BMP and ICO written from raw pixels, and the JFIF header `image` put on its JPEGs.
import { TesseraError } from '../../errors/index.js';

/** Raw 8-bit pixels, rows top to bottom, 3 (RGB) or 4 (RGBA) channels. */
export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
}

/**
 * A BMP as `image` 0.21 wrote one: RGB as 24 bits a pixel under a BITMAPINFOHEADER, RGBA as 32 bits
 * with a BITMAPV4HEADER whose bit fields say where alpha is; rows bottom-up, BGR(A), padded to 4 bytes.
 */
export function encodeBmp(img: RawImage): Buffer {
  const { width, height, channels } = img;
  const dibSize = channels === 4 ? 108 : 40;
  const rowBytes = Math.ceil((width * channels) / 4) * 4;
  const pixelBytes = rowBytes * height;
  const offset = 14 + dibSize;
  if (offset + pixelBytes > 0xffffffff) throw new TesseraError('too_large', `image_resize: a ${width}×${height} BMP is larger than the format's 4 GiB`);
  const out = Buffer.alloc(offset + pixelBytes);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(offset + pixelBytes, 2);
  out.writeUInt32LE(offset, 10);
  out.writeUInt32LE(dibSize, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(height, 22); // positive: bottom-up rows
  out.writeUInt16LE(1, 26); // planes
  out.writeUInt16LE(channels * 8, 28);
  out.writeUInt32LE(channels === 4 ? 3 : 0, 30); // BI_BITFIELDS for RGBA, BI_RGB otherwise
  out.writeUInt32LE(pixelBytes, 34);
  if (channels === 4) {
    out.writeUInt32LE(0x00ff0000, 54); // red mask
    out.writeUInt32LE(0x0000ff00, 58); // green
    out.writeUInt32LE(0x000000ff, 62); // blue
    out.writeUInt32LE(0xff000000, 66); // alpha
    out.writeUInt32LE(0x73524742, 70); // LCS_sRGB
  }
  for (let y = 0; y < height; y++) {
    const src = (height - 1 - y) * width * channels;
    let dst = offset + y * rowBytes;
    for (let x = 0; x < width; x++, dst += channels) {
      const p = src + x * channels;
      out[dst] = img.data[p + 2];
      out[dst + 1] = img.data[p + 1];
      out[dst + 2] = img.data[p];
      if (channels === 4) out[dst + 3] = img.data[p + 3];
    }
  }
  return out;
}

/** The largest side an ICO entry can state (its size bytes hold 1…255, and 0 for 256). */
export const ICO_MAX_SIDE = 256;

/** An ICO of one entry holding a PNG, as `image` 0.21 wrote one. */
export function encodeIco(png: Buffer, width: number, height: number): Buffer {
  const head = Buffer.alloc(6 + 16);
  head.writeUInt16LE(0, 0);
  head.writeUInt16LE(1, 2); // type: icon
  head.writeUInt16LE(1, 4); // one image
  head[6] = width % ICO_MAX_SIDE;
  head[7] = height % ICO_MAX_SIDE;
  head[8] = 0; // no palette
  head.writeUInt16LE(1, 10); // colour planes
  head.writeUInt16LE(32, 12); // bits per pixel
  head.writeUInt32LE(png.length, 14);
  head.writeUInt32LE(head.length, 18);
  return Buffer.concat([head, png]);
}

/**
 * The JPEG with the JFIF APP0 header `image` 0.21 wrote (version 1.02, aspect-ratio units, density 1×1),
 * which MesaTEE's example checks with file(1). libvips writes none when metadata is stripped; any APP0 it
 * did write is replaced.
 */
export function withJfifHeader(jpeg: Buffer): Buffer {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new TesseraError('internal', 'image_resize: the JPEG encoder wrote no SOI marker');
  let rest = jpeg.subarray(2);
  if (rest[0] === 0xff && rest[1] === 0xe0) rest = rest.subarray(2 + rest.readUInt16BE(2));
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x02, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
  return Buffer.concat([jpeg.subarray(0, 2), app0, rest]);
}
