import { TesseraError } from '../../../errors/index.js';
import type { FunctionDefinition } from '../../registry.js';
import { decodeBase64, jsonArguments } from '../common.js';
import { formatF64 } from '../gbdt/rust-float.js';
import { DEFAULT_OPTIONS, type DetectorOptions, detectFaces } from './detector.js';
import { decodeGray } from './gray.js';
import { frontalModel } from './model.js';
import type { Box } from './nms.js';

// Teaclave's builtin-face-detection (function/src/face_detection.rs at ce4c75c9): rustface, the Rust port
// of SeetaFace's frontal face detector, over the image in the arguments; the result is rustface's list of
// faces as serde_json writes it. Here the same detector is Tessera's own code (this directory), with the
// same bundled SeetaFace model (models/ at the package root).

const FN = 'face_detection';
const U32_MAX = 4294967295;
/** rustface's smallest window and face size. */
const MIN_WINDOW = 20;

interface Arguments {
  image: unknown;
  window_size?: number;
  slide_window_step_x?: number;
  slide_window_step_y?: number;
  min_face_size?: number;
  max_face_size?: number;
  pyramid_scale_factor?: number;
  score_thresh?: number;
}

const u32 = { type: ['integer', 'null'], minimum: 0, maximum: U32_MAX };

function parseArguments(payload: string | null): Arguments {
  const args = jsonArguments<Record<string, unknown>>(FN, payload, {
    type: 'object',
    required: ['image'],
    properties: {
      // Teaclave sends the file's bytes as a JSON array of numbers (serde's Vec<u8>); base64 is accepted too.
      image: { type: ['array', 'string'] },
      // The limits are rustface's, which it enforced by panicking.
      window_size: { ...u32, minimum: MIN_WINDOW },
      slide_window_step_x: { ...u32, minimum: 1 },
      slide_window_step_y: { ...u32, minimum: 1 },
      min_face_size: { ...u32, minimum: MIN_WINDOW },
      max_face_size: u32,
      pyramid_scale_factor: { type: ['number', 'null'] },
      score_thresh: { type: ['number', 'null'], exclusiveMinimum: 0 },
    },
  });
  // The optional ones are Options in Teaclave, where serde reads null as None: absent.
  for (const [key, value] of Object.entries(args)) if (value === null && key !== 'image') delete args[key];
  return args as unknown as Arguments;
}

function imageBytes(image: unknown): Buffer {
  if (typeof image === 'string') return decodeBase64(FN, 'image', image);
  const list = image as unknown[];
  const bytes = Buffer.alloc(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
      throw new TesseraError('invalid_input', `${FN}: image[${i}] is ${JSON.stringify(v)}, not a byte (0 to 255)`);
    }
    bytes[i] = v;
  }
  return bytes;
}

function detectorOptions(args: Arguments): DetectorOptions {
  const opts = { ...DEFAULT_OPTIONS };
  // Teaclave sets the steps only when both are given; a lone one changes nothing.
  if (args.slide_window_step_x !== undefined && args.slide_window_step_y !== undefined) {
    opts.stepX = args.slide_window_step_x;
    opts.stepY = args.slide_window_step_y;
  }
  // rustface keeps the size as an i32: above 2^31 - 1 it is negative, which means no limit.
  if (args.max_face_size !== undefined) opts.maxFaceSize = args.max_face_size | 0;
  if (args.pyramid_scale_factor !== undefined) {
    // An f32 in Teaclave, checked against [0.01, 0.99] as f32 values.
    const factor = Math.fround(args.pyramid_scale_factor);
    if (!(factor >= Math.fround(0.01) && factor <= Math.fround(0.99))) {
      throw new TesseraError('invalid_input', `${FN}: pyramid_scale_factor is ${args.pyramid_scale_factor}; it must lie in [0.01, 0.99]`);
    }
    opts.pyramidScaleFactor = factor;
  }
  if (args.score_thresh !== undefined) opts.scoreThreshold = args.score_thresh;
  // window_size and min_face_size are checked as rustface checks them but change nothing: rustface's
  // detect sets the window back to 40 and leaves the face-size scale unused.
  return opts;
}

/** rustface's FaceInfo as serde_json writes it (the Euler angles are never computed: 0). */
const faceJson = (b: Box): string =>
  `{"bbox":{"x":${b.x},"y":${b.y},"width":${b.size},"height":${b.size}},"roll":0.0,"pitch":0.0,"yaw":0.0,"score":${formatF64(b.score)}}`;

export const faceDetection: FunctionDefinition = {
  name: FN,
  kind: 'builtin',
  type: 'Single',
  description: "Finds frontal faces in the image in the arguments (SeetaFace's cascade, as Teaclave's rustface); returns them as JSON",
  interface: {
    payload: 'json',
    arguments: [
      { name: 'image', description: 'the image file (JPEG, PNG, GIF, WebP or TIFF): its bytes as a JSON array of numbers, or base64', required: true },
      { name: 'window_size', description: 'sliding window, ≥ 20 (rustface always scans with 40)', required: false },
      { name: 'slide_window_step_x', description: 'horizontal step, ≥ 1 (used only with slide_window_step_y; default 4)', required: false },
      { name: 'slide_window_step_y', description: 'vertical step, ≥ 1 (used only with slide_window_step_x; default 4)', required: false },
      { name: 'min_face_size', description: 'smallest face, ≥ 20 (rustface does not use it)', required: false },
      { name: 'max_face_size', description: 'largest face, pixels (default: the shorter side)', required: false },
      { name: 'pyramid_scale_factor', description: 'scale between pyramid levels, 0.01 to 0.99 (default 0.8)', required: false },
      { name: 'score_thresh', description: 'smallest score returned, > 0 (default 3.85)', required: false },
    ],
    inputs: [],
    outputs: [],
  },
  run: async (ctx) => {
    const args = parseArguments(ctx.payload);
    const opts = detectorOptions(args);
    const image = await decodeGray(FN, imageBytes(args.image));
    const faces = detectFaces(frontalModel(), image, opts);
    return `[${faces.map(faceJson).join(',')}]`;
  },
};
