// Node configuration that built-ins read. The node hands it to each built-in worker thread as the
// thread's workerData (worker-pool.ts); built-ins read it here, never from the config file.

export interface BuiltinSettings {
  /** files.max_image_pixels: the most pixels (width × height) an image built-in decodes or produces. */
  maxImagePixels: number;
}

/** sharp's own default limit (0x3FFF × 0x3FFF), which files.max_image_pixels defaults to as well. */
export const DEFAULT_MAX_IMAGE_PIXELS = 268402689;

let current: BuiltinSettings = { maxImagePixels: DEFAULT_MAX_IMAGE_PIXELS };

export const builtinSettings = (): BuiltinSettings => current;

export function useBuiltinSettings(settings: BuiltinSettings): void {
  current = { ...settings };
}
