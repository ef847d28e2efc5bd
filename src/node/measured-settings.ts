import type { MeasuredSettings } from '../attestation/measurement.js';
import type { TesseraConfig } from './config-schema.js';

/** The settings that go into the measurement, taken from the configuration (see docs/trust-model.md). */
export const measuredSettings = (config: TesseraConfig): MeasuredSettings => ({
  function_timeout_ms: config.tasks.function_timeout_ms,
  max_function_input_bytes: config.files.max_function_input_bytes,
});
