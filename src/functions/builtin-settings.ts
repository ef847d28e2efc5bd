// Node configuration that built-ins read. The node hands it to each built-in worker thread as the
// thread's workerData (worker-pool.ts); built-ins read it here, never from the config file.

import type { PythonSettings } from '../sandbox/process/python/sandbox.js';

export interface BuiltinSettings {
  /** files.max_image_pixels: the most pixels (width × height) an image built-in decodes or produces. */
  maxImagePixels: number;
  /** How mesapy_from_buffer and kind "python" confine their interpreter; its defaults when left out. */
  python?: PythonSettings;
}

/** sharp's own default limit (0x3FFF × 0x3FFF), which files.max_image_pixels defaults to as well. */
export const DEFAULT_MAX_IMAGE_PIXELS = 268402689;

let current: BuiltinSettings = { maxImagePixels: DEFAULT_MAX_IMAGE_PIXELS };

export const builtinSettings = (): BuiltinSettings => current;

export function useBuiltinSettings(settings: BuiltinSettings): void {
  current = { ...settings };
}
