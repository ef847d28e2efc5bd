import { type Static, Type } from '@sinclair/typebox';

// [nats] of tessera.toml: the NATS JetStream server a cluster's nodes share (files.blob_store = "nats").
// Its connection is mutually authenticated when the three files are given (docs/cluster.md).

export const NatsOptions = Type.Object(
  {
    url: Type.String({ default: '', description: 'The NATS server, e.g. tls://127.0.0.1:4222 (used when files.blob_store = "nats")' }),
    bucket: Type.String({ default: 'tessera-blobs', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'The JetStream object store bucket that holds the ciphertexts' }),
    replicas: Type.Integer({ minimum: 1, maximum: 5, default: 1, description: 'Copies JetStream keeps of each object (more than 1 needs a NATS cluster)' }),
    ca_file: Type.String({ default: '', description: "The CA certificate the NATS server's certificate must chain to (PEM); empty: no TLS" }),
    cert_file: Type.String({ default: '', description: 'This node’s client certificate for NATS (PEM)' }),
    key_file: Type.String({ default: '', description: 'This node’s client key for NATS (PEM)' }),
    timeout_ms: Type.Integer({ minimum: 100, default: 5000, description: 'How long one NATS request may take before it fails as unavailable' }),
  },
  { additionalProperties: false, default: {}, description: 'The NATS JetStream server of a cluster (docs/cluster.md)' },
);

export type NatsOptions = Static<typeof NatsOptions>;
