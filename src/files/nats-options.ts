import { type Static, Type } from '@sinclair/typebox';

// [nats] of tessera.toml: the NATS JetStream server a cluster's nodes share: its object store holds the
// files (files.blob_store = "nats"), its work queue carries tasks and detached calls (store.backend = "postgres").
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
    work_ack_wait_ms: Type.Integer({
      minimum: 1000,
      default: 10000,
      description: 'Work queue: how long a task or detached call may go without news from the node running it before JetStream hands it to another node (a node that dies is replaced after this)',
    }),
    work_max_attempts: Type.Integer({ minimum: 1, maximum: 100, default: 3, description: 'Work queue: deliveries of one task before it is recorded Failed (each node that took it stopped before it ended)' }),
    work_concurrency: Type.Integer({ minimum: 1, maximum: 256, default: 8, description: 'Work queue: tasks and detached calls this node runs at once' }),
  },
  { additionalProperties: false, default: {}, description: 'The NATS JetStream server of a cluster (docs/cluster.md)' },
);

export type NatsOptions = Static<typeof NatsOptions>;
