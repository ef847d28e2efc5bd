import { readFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { TesseraError } from '../errors/index.js';
import type { NatsOptions } from '../files/nats-options.js';

// One way for every part of a node to reach the cluster's NATS server ([nats] of tessera.toml): the same
// servers, the same mutual TLS, the same reconnect policy. The blob store and the work queue each keep a
// connection of their own, so a slow object transfer never delays a task's acknowledgement.

/** The [nats] TLS files, read now: a file that cannot be read is a clear configuration error. */
export function natsTls(nats: NatsOptions): { ca?: string; cert?: string; key?: string } | undefined {
  if (!nats.ca_file && !nats.cert_file) return undefined;
  const file = (path: string, what: string) => {
    try {
      return path ? readFileSync(path, 'utf8') : undefined;
    } catch (err) {
      throw new TesseraError('invalid_input', `nats.${what} ${path} cannot be read: ${(err as Error).message}`);
    }
  };
  return { ca: file(nats.ca_file, 'ca_file'), cert: file(nats.cert_file, 'cert_file'), key: file(nats.key_file, 'key_file') };
}

/** Connects to nats.url; 'unavailable' when no server answers within nats.timeout_ms. */
export async function connectNats(nats: NatsOptions, name: string, what: string): Promise<NatsConnection> {
  if (!nats.url) throw new TesseraError('invalid_input', `${what} needs nats.url (e.g. tls://127.0.0.1:4222; docs/cluster.md)`);
  const tls = natsTls(nats);
  try {
    return await connect({
      servers: nats.url.split(',').map((s) => s.trim()),
      name,
      timeout: nats.timeout_ms,
      // After the first connection, keep reconnecting: a restarted server is found again, and while it is
      // away every request ends after the timeout with 'unavailable' instead of waiting.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...(tls ? { tls } : {}),
    });
  } catch (err) {
    throw new TesseraError('unavailable', `${what} could not connect to NATS at ${nats.url}: ${(err as Error).message}`, { cause: err, retryAfterSeconds: 5 });
  }
}

/** A JetStream name part for this service, from store.schema: every name a service uses is its own. */
export const servicePrefix = (schema: string) => schema.replace(/[^A-Za-z0-9_-]/g, '_');
