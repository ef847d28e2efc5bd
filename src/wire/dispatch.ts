import { Ajv, type ValidateFunction } from 'ajv';
import { TesseraError } from '../errors/index.js';
import type { Principal } from '../identity/principals.js';

// Each wire message is declared as a JSON schema, in the exact shape of the MesaTEE docs:
// every documented key required, no others, each of its documented type.

const ajv = new Ajv({ allErrors: true, strict: true });

export type Handler<Req> = (request: Req, caller: Principal) => Promise<unknown> | unknown;

interface Variant {
  validate: ValidateFunction;
  handler: Handler<never>;
}

export type MessageHandler = (message: unknown, caller: Principal) => Promise<unknown>;

/** JSON schema of a message whose keys are all required and no others allowed. */
export function exactObject(properties: Record<string, object>): object {
  return { type: 'object', additionalProperties: false, required: Object.keys(properties), properties };
}

function describe(validate: ValidateFunction, what: string): TesseraError {
  const problems = (validate.errors ?? []).map((e) => {
    const at = e.instancePath ? `'${e.instancePath.slice(1).replaceAll('/', '.')}'` : 'the message';
    if (e.keyword === 'required') return `${at} is missing '${(e.params as { missingProperty: string }).missingProperty}'`;
    if (e.keyword === 'additionalProperties') {
      return `${at} has an unexpected key '${(e.params as { additionalProperty: string }).additionalProperty}'`;
    }
    return `${at} ${e.message}`;
  });
  return new TesseraError('invalid_input', `malformed ${what} request: ${problems.join('; ')}`);
}

/** A service whose messages are internally tagged by a leading "type" key. */
export function tagged(service: string, variants: Record<string, { schema: object; handler: Handler<never> }>): MessageHandler {
  const compiled = new Map<string, Variant>(
    Object.entries(variants).map(([type, v]) => [
      type,
      { validate: ajv.compile({ ...v.schema, properties: { type: { const: type }, ...(v.schema as { properties: object }).properties }, required: ['type', ...(v.schema as { required: string[] }).required] }), handler: v.handler },
    ]),
  );
  const known = [...compiled.keys()].join(', ');
  return async (message, caller) => {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      throw new TesseraError('invalid_input', `a ${service} request must be a JSON object with a "type" key (${known})`);
    }
    const type = (message as { type?: unknown }).type;
    if (typeof type !== 'string') {
      throw new TesseraError('invalid_input', `a ${service} request needs a string "type": one of ${known}`);
    }
    const variant = compiled.get(type);
    if (!variant) throw new TesseraError('invalid_input', `unknown ${service} request type '${type}'; expected one of ${known}`);
    if (!variant.validate(message)) throw describe(variant.validate, `${service} ${type}`);
    return variant.handler(message as never, caller);
  };
}

/** A service with a single untagged message shape (FNS). */
export function untagged(service: string, schema: object, handler: Handler<never>): MessageHandler {
  const validate = ajv.compile(schema);
  return async (message, caller) => {
    if (!validate(message)) throw describe(validate, service);
    return handler(message as never, caller);
  };
}

export const str = { type: 'string' };
export const strOrNull = { type: ['string', 'null'] };
export const strList = { type: 'array', items: { type: 'string' } };
export const u32 = { type: 'integer', minimum: 0, maximum: 4294967295 };
