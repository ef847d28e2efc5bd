import { taskRoutes } from '../../http/routes/tasks.js';
import { deriveKey } from '../../kms/master-key.js';
import { TaskService } from '../../tasks/service.js';
import { fns } from '../../wire/fns.js';
import { tmsExternal, tmsInternal } from '../../wire/tms.js';
import { WIRE_LISTENERS } from '../config-schema.js';
import type { Capability } from '../capability.js';

// MesaTEE tasks (TMS and FNS over the wire, /v1/tasks over REST): multi-party approval and invocation.

/** How often a cluster node looks for claimed tasks that never reached the work queue, and prunes delivered results. */
const REQUEUE_EVERY_MS = 10_000;

export function tasksCapability(): Capability {
  let sweeper: NodeJS.Timeout | undefined;
  return {
    name: 'tasks',
    start(ctx) {
      const { config, logger, addresses } = ctx;
      const tasks = new TaskService({
        store: ctx.store,
        functions: ctx.need('functions'),
        files: ctx.need('files'),
        fnsAddress: () => ({ ip: config.node.advertise_ip, port: config.node.advertise_fns_port || addresses.fns?.port || WIRE_LISTENERS.fns.port }),
        functionTimeoutMs: config.tasks.function_timeout_ms,
        maxTasksPerUser: config.tasks.max_tasks_per_user,
        logger,
        tokenKey: deriveKey(ctx.masterKey, 'task tokens'),
        nodeId: ctx.ledger.id,
        queue: ctx.services.work,
        maxAttempts: config.nats.work_max_attempts,
      });
      const recovered = tasks.recoverInterrupted();
      if (recovered) logger.warn({ tasks: recovered }, 'tasks interrupted by the last shutdown were marked Failed');
      ctx.services.tasks = tasks;
      const queue = ctx.services.work;
      if (queue && config.node.role !== 'api') {
        queue.handle('task', (id, _body, delivery) => tasks.runQueued(id, delivery));
        let seen = new Set<string>();
        let ended = new Set<string>();
        sweeper = setInterval(() => {
          tasks.requeueLost(seen).then(
            (now) => (seen = now),
            (err: Error) => logger.warn({ err: err.message }, 'could not look for tasks to queue again'),
          );
          try {
            ended = tasks.pruneOutcomes(ended);
          } catch (err) {
            logger.warn({ err: (err as Error).message }, 'could not remove delivered task results');
          }
        }, REQUEUE_EVERY_MS);
        sweeper.unref();
      }
    },
    stop: () => clearInterval(sweeper),
    routes: (app, ctx) => taskRoutes(app, ctx.need('tasks'), ctx.need('functions'), ctx.need('registered')),
    wire: (ctx) => ({
      fns: fns(ctx.need('tasks'), ctx.need('files')),
      tms_external: tmsExternal(ctx.need('tasks'), ctx.principals, ctx.need('files')),
      tms_internal: tmsInternal(ctx.need('tasks')),
    }),
  };
}
