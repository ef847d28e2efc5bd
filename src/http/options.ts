import { type Static, Type } from '@sinclair/typebox';

// [http] of tessera.toml: the HTTPS listener (composed into the whole schema by node/config-schema.ts).

export const HttpOptions = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Set false to not open the HTTPS listener' }),
    host: Type.String({ default: '127.0.0.1', description: 'Address to bind; 0.0.0.0 for every interface' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8000, description: 'TCP port (0 picks a free port)' }),
    max_body_bytes: Type.Integer({
      minimum: 1024,
      default: 4194304,
      description: 'Largest JSON request body accepted, in bytes',
    }),
    handshake_timeout_ms: Type.Integer({
      minimum: 100,
      default: 10000,
      description: 'A connection must finish its TLS handshake within this time (against slow or silent clients)',
    }),
    headers_timeout_ms: Type.Integer({
      minimum: 100,
      default: 10000,
      description: "A request's headers must arrive whole within this time (against slowloris)",
    }),
    max_connections: Type.Integer({
      minimum: 1,
      default: 16384,
      description: 'Open connections allowed; more are refused at accept',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'The HTTPS API: /v1 (described at /v1/api, browsable at /v1/docs), /app, /gov, /node (readiness: /node/state), /metrics (Prometheus, for members)',
  },
);

export type HttpOptions = Static<typeof HttpOptions>;
