import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, servicePrefix } from '../../cluster/nats-connection.js';
import { WorkQueue } from '../../cluster/work-queue.js';
import { deriveKey } from '../../kms/master-key.js';
import type { Capability } from '../capability.js';

// A cluster's work queue (NATS JetStream): tasks and detached Fn calls go through it to whichever node runs
// them. Present when the node shares a PostgreSQL store and names a NATS server; one node on SQLite runs
// its work itself. The capabilities after this one register what they run (`handle`); pulling starts once
// every capability has started, and only on nodes whose role runs work (node.role 'all' or 'worker').

export function workCapability(): Capability {
  let nc: NatsConnection | undefined;
  let queue: WorkQueue | undefined;
  let delays: WorkQueue | undefined;
  return {
    name: 'work',
    async start(ctx) {
      const { config } = ctx;
      if (config.store.backend !== 'postgres' || !config.nats.url) return;
      nc = await connectNats(config.nats, `tessera-work-${ctx.ledger.id.slice(0, 16)}`, 'the work queue');
      const options = {
        nc,
        prefix: servicePrefix(config.store.schema),
        key: deriveKey(ctx.masterKey, 'work queue'),
        replicas: config.nats.replicas,
        ackWaitMs: config.nats.work_ack_wait_ms,
        timeoutMs: config.nats.timeout_ms,
        logger: ctx.logger,
      };
      queue = await WorkQueue.open(options);
      // Delayed casts wait in a queue of their own until due, so that many of them never hold up work due now.
      delays = await WorkQueue.open({ ...options, lane: 'delay', maxPending: 1_000_000 });
      ctx.services.work = queue;
      ctx.services.delays = delays;
      ctx.services.nats = nc;
      ctx.logger.info({ stream: queue.stream, role: config.node.role }, config.node.role === 'api' ? 'work queue open: this node queues work and runs none (node.role = "api")' : 'work queue open: this node queues and runs work');
    },
    async opened(ctx) {
      if (queue && ctx.config.node.role !== 'api') await queue.consume(ctx.config.nats.work_concurrency);
      if (delays && ctx.config.node.role !== 'api') await delays.consume(2);
    },
    stop: async () => {
      await Promise.all([queue?.stop(), delays?.stop()]);
    },
    async close() {
      await Promise.all([queue?.drained(), delays?.drained()]);
      await nc?.close().catch(() => {});
    },
  };
}
