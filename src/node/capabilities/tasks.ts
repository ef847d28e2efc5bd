import { taskRoutes } from '../../http/routes/tasks.js';
import { deriveKey } from '../../kms/master-key.js';
import { TaskService } from '../../tasks/service.js';
import { fns } from '../../wire/fns.js';
import { tmsExternal, tmsInternal } from '../../wire/tms.js';
import { WIRE_LISTENERS } from '../config-schema.js';
import type { Capability } from '../capability.js';

// MesaTEE tasks (TMS and FNS over the wire, /v1/tasks over REST): multi-party approval and invocation.

export function tasksCapability(): Capability {
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
      });
      const recovered = tasks.recoverInterrupted();
      if (recovered) logger.warn({ tasks: recovered }, 'tasks interrupted by the last shutdown were marked Failed');
      ctx.services.tasks = tasks;
    },
    routes: (app, ctx) => taskRoutes(app, ctx.need('tasks'), ctx.need('functions'), ctx.need('registered')),
    wire: (ctx) => ({
      fns: fns(ctx.need('tasks'), ctx.need('files')),
      tms_external: tmsExternal(ctx.need('tasks'), ctx.principals, ctx.need('files')),
      tms_internal: tmsInternal(ctx.need('tasks')),
    }),
  };
}
