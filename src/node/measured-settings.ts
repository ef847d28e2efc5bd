import { type MeasuredSettings, enclaveInfoToml, measure } from '../attestation/measurement.js';
import type { TesseraConfig } from './config-schema.js';

/** The settings that go into the measurement, taken from the configuration (see docs/trust-model.md). */
export const measuredSettings = (config: TesseraConfig): MeasuredSettings => ({
  function_timeout_ms: config.tasks.function_timeout_ms,
  max_function_input_bytes: config.files.max_function_input_bytes,
  fn_confinement: config.fn.confinement,
  fn_allow_direct_deploy: config.fn.allow_direct_deploy,
  fn_allow_egress: config.fn.allow_egress,
});

/** The node's enclave_info.toml under this configuration: what `tessera measure` prints and auditors sign. */
export const enclaveInfoFor = (config: TesseraConfig): string => enclaveInfoToml(measure(measuredSettings(config)));
