import { availableParallelism, hostname } from 'node:os';
import { workflowRoutes } from '../../http/routes/workflows.js';
import { deriveKey } from '../../kms/master-key.js';
import { edgelessNodeId, resourceProviderIds } from '../../workflows/annotations.js';
import { WorkflowForwarder } from '../../workflows/forward.js';
import { offeredClasses } from '../../workflows/resources/index.js';
import { WorkflowRuntime } from '../../workflows/runtime.js';
import { type QueuedDelayedCast, WorkflowService } from '../../workflows/service.js';
import type { WorkQueue } from '../../cluster/work-queue.js';
import { newUuid } from '../../crypto/random.js';
import type { Logger } from 'pino';
import type { Capability, NodeContext } from '../capability.js';
import type { TesseraConfig } from '../config-schema.js';

/** In a cluster with NATS: what carries requests for workflows other nodes run (forward.ts), on the node's NATS connection. */
function openForwarder(config: TesseraConfig, ctx: NodeContext, nodeId: string): WorkflowForwarder | null {
  const nc = ctx.services.nats;
  if (!nc) {
    ctx.logger.warn('this cluster node has no nats.url: requests for workflows that other nodes run cannot be forwarded and fail as unavailable');
    return null;
  }
  return WorkflowForwarder.open({ nc, key: deriveKey(ctx.masterKey, 'workflow requests between nodes'), timeoutMs: config.nats.timeout_ms, schema: config.store.schema, nodeId, logger: ctx.logger });
}

/** In a cluster: delayed casts go into the work queue, due at their time, so that a host's death loses none. */
function durableDelayedCasts(work: WorkQueue, logger: Logger) {
  return (cast: { workflowId: string; target: string; payload: Buffer; delayMs: number }) => {
    const queued: QueuedDelayedCast = { workflow: cast.workflowId, target: cast.target, payload: cast.payload.toString('base64'), due: Date.now() + cast.delayMs };
    work.publish('wfdelay', newUuid(), Buffer.from(JSON.stringify(queued))).catch((err: Error) => {
      logger.warn({ workflow: cast.workflowId, target: cast.target, err: err.message }, 'a delayed cast could not be queued (NATS away) and is dropped');
    });
  };
}

// EDGELESS workflows: one isolate per instance on isolate threads, the resources tessera.toml offers, and
// the workflows of the last run restored (with their synced state) once the node answers.

export function workflowsCapability(): Capability {
  let forwarder: WorkflowForwarder | null = null;
  return {
    name: 'workflows',
    async start(ctx) {
      const { config, store, logger, ledger, paths, masterKey } = ctx;
      // EDGELESS names nodes by UUID: this node's is its id (the SHA-256 of its key, stable while the key is)
      // cut to 16 bytes, so node_id_match_any can name it and slf() shows it across restarts.
      const nodeId = edgelessNodeId(ledger.id);
      const runtime = new WorkflowRuntime({
        nodeId,
        store,
        logger,
        limits: { heapMiB: config.workflows.heap_mib, eventMs: config.workflows.event_timeout_ms },
        callTimeoutMs: config.workflows.call_timeout_ms,
        maxRestartsPerMinute: config.workflows.max_restarts_per_minute,
        threads: config.workflows.threads || Math.max(16, 4 * availableParallelism()),
        budget: ctx.budget,
        durableDelayedCast: ctx.membership && ctx.services.delays ? durableDelayedCasts(ctx.services.delays, logger) : undefined,
      });
      const r = config.workflows.resources;
      const resources = {
        egressHosts: config.workflows.egress_hosts,
        fileLog: { enabled: r.file_log.enabled, maxFileBytes: r.file_log.max_file_bytes },
        redis: { allowedUrls: r.redis.allowed_urls },
        sqlx: { enabled: r.sqlx.enabled, maxDatabaseBytes: r.sqlx.max_database_bytes, queryTimeLimitMs: r.sqlx.query_time_limit_ms },
        filePusher: { directory: r.file_pusher.directory },
        serverless: r.serverless,
        kafkaEgress: { brokers: r.kafka_egress.brokers },
      };
      ctx.services.runtime = runtime;
      const { membership } = ctx;
      if (membership) {
        // What placement on other nodes needs to know of this one.
        membership.record({
          role: config.node.role,
          hostname: hostname(),
          labels: config.workflows.labels,
          attestation: config.attestation.provider,
          resource_providers: [...resourceProviderIds(offeredClasses(resources).keys(), hostname())],
        });
        forwarder = openForwarder(config, ctx, nodeId);
      }
      ctx.services.workflows = new WorkflowService({
        store,
        runtime,
        logger,
        resources,
        files: { root: paths.workflowFiles, key: deriveKey(masterKey, 'workflow resource files') },
        eventLimits: { defaultMs: config.workflows.event_timeout_ms, maxMs: config.workflows.max_event_timeout_ms },
        maxPerOwner: config.workflows.max_workflows_per_user,
        placement: { nodeId, hostname: hostname(), labels: config.workflows.labels, attestation: config.attestation.provider },
        cluster: membership ? { membership, forwarder, events: ctx.services.work ?? null, delays: ctx.services.delays ?? null } : undefined,
      });
    },
    routes: (app, ctx) => workflowRoutes(app, ctx.need('workflows')),
    // Their init runs on isolate threads while requests are served; a failure is logged and the rest serves.
    opened: (ctx) =>
      ctx.need('workflows').restoreAll().then(
        (n) => {
          if (n) ctx.logger.info({ workflows: n }, 'workflows restored with their synced state');
        },
        (err) => ctx.logger.error({ err }, 'workflows could not be restored'),
      ),
    stop: (ctx) => ctx.need('runtime').close(),
    close: async () => {
      await forwarder?.close();
    },
  };
}
