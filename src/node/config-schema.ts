import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { LimitsOptions } from '../admission/options.js';
import { AppOptions } from '../apps/options.js';
import { AttestationOptions } from '../attestation/options.js';
import { FilesOptions } from '../files/options.js';
import { FnOptions } from '../functions/process/options.js';
import { GovernanceOptions } from '../governance/options.js';
import { HttpOptions } from '../http/options.js';
import { KmsOptions } from '../kms/options.js';
import { SandboxOptions } from '../sandbox/options.js';
import { LedgerOptions, StoreOptions } from '../store/options.js';
import { NatsOptions } from '../files/nats-options.js';
import { TasksOptions } from '../tasks/options.js';
import { WireOptions } from '../wire/options.js';
import { WorkflowsOptions } from '../workflows/options.js';
import { LogOptions, NodeOptions, SecurityOptions } from './options.js';

// The node's settings, declared once: each capability owns its section of tessera.toml as a TypeBox schema
// beside its code (src/<capability>/options.ts), and this file composes them. The one schema validates
// tessera.toml (config.ts, with ajv), fills in defaults, and is the source of the commented template that
// `tessera init` writes and of the TESSERA_* variables (config-env.ts); TesseraConfig is derived from it.

export { WIRE_LISTENERS, type WireListenerConfig, type WireListenerName } from '../wire/options.js';

/**
 * TypeBox lists in `required` every property not marked Type.Optional. A setting with a default is never
 * missing once ajv (useDefaults) has filled it in, so it is left out of `required`, as in the hand-written
 * schema this replaced (commit 96a3567 proved the two equal, as JSON and under ajv, before settings were added), while its static type
 * stays non-optional: TesseraConfig is the configuration after defaults. A property without a default
 * (a serverless class's class_type and function_url) stays required. Returns a copy; symbols are kept.
 */
function defaultsNotRequired<T extends TSchema>(schema: T): T {
  const node: Record<PropertyKey, unknown> = { ...(schema as Record<PropertyKey, unknown>) };
  const properties = schema.properties as Record<string, TSchema> | undefined;
  if (properties) {
    node.properties = Object.fromEntries(Object.entries(properties).map(([key, p]) => [key, defaultsNotRequired(p)]));
    const required = ((schema.required ?? []) as string[]).filter((key) => properties[key]?.default === undefined);
    if (required.length) node.required = required;
    else delete node.required;
  }
  if (schema.items) node.items = defaultsNotRequired(schema.items as TSchema);
  return node as T;
}

export const CONFIG_SCHEMA = defaultsNotRequired(
  Type.Object(
    {
      node: NodeOptions,
      log: LogOptions,
      http: HttpOptions,
      wire: WireOptions,
      limits: LimitsOptions,
      sandbox: SandboxOptions,
      tasks: TasksOptions,
      files: FilesOptions,
      kms: KmsOptions,
      app: AppOptions,
      workflows: WorkflowsOptions,
      fn: FnOptions,
      governance: GovernanceOptions,
      ledger: LedgerOptions,
      store: StoreOptions,
      nats: NatsOptions,
      attestation: AttestationOptions,
      security: SecurityOptions,
    },
    { additionalProperties: false },
  ),
);

/** Every setting of tessera.toml after defaults are filled in (config.ts's resolveConfig). */
export type TesseraConfig = Static<typeof CONFIG_SCHEMA>;
