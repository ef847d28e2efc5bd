import { type Static, Type } from '@sinclair/typebox';

// [limits] of tessera.toml: admission on every listener (composed into the whole schema by node/config-schema.ts).

export const LimitsOptions = Type.Object(
  {
    max_requests_in_flight: Type.Integer({
      minimum: 1,
      default: 512,
      description: 'HTTPS requests handled at once; past it a request gets 503 with retry-after instead of waiting in a queue',
    }),
    max_connections_per_address: Type.Integer({
      minimum: 1,
      default: 256,
      description:
        'Connections one remote address may hold on each listener, counted from TCP accept, before TLS; past it a new one is closed at once (so one address cannot fill http.max_connections or wire.max_connections)',
    }),
    max_handshaking_connections: Type.Integer({
      minimum: 1,
      default: 256,
      description:
        'Connections on each listener that have not finished their TLS handshake, never more: when full, a new one is let in and the oldest handshaking connection of the address holding the most is closed, so addresses that never finish cannot fill the listener or keep anyone else out',
    }),
    max_anonymous_requests_in_flight: Type.Integer({
      minimum: 1,
      default: 32,
      description:
        'HTTPS requests at once from callers without a current identity (the public routes: health, API documents, CCF apps); their own budget, so they cannot take the slots identified callers use',
    }),
    anonymous_request_timeout_ms: Type.Integer({
      minimum: 100,
      default: 10000,
      description:
        'A request from a caller without a current identity must be answered within this, body included; past it its connection is closed',
    }),
    user_requests_per_second: Type.Number({
      minimum: 0,
      default: 0,
      description:
        'Requests a second each identity may make, over HTTPS and the wire listeners; past it, 429 (or a wire Error) with retry-after. 0: no limit',
    }),
    user_burst: Type.Integer({
      minimum: 1,
      default: 50,
      description: 'Requests an identity may make at once before user_requests_per_second applies',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Admission: how much the listeners take on before refusing, and how often one caller may ask',
  },
);

export type LimitsOptions = Static<typeof LimitsOptions>;
