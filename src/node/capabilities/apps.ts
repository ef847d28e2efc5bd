import { AppService, DEFAULT_APP_RUNTIME } from '../../apps/service.js';
import { appRoutes } from '../../http/routes/app.js';
import type { Capability } from '../capability.js';

// CCF JavaScript apps: the bundle governance deployed, served under /app and unprefixed, as CCF routes it.

export function appsCapability(): Capability {
  return {
    name: 'apps',
    start(ctx) {
      const { config, store } = ctx;
      ctx.services.apps = new AppService({
        store,
        principals: ctx.principals,
        engine: ctx.engine,
        ledger: ctx.ledger,
        logger: ctx.logger,
        version: ctx.version,
        history: (table, seqno) => store.stateAt(table, seqno),
        runtime: { ...DEFAULT_APP_RUNTIME, returnExceptionDetails: config.app.return_exception_details, maxExecutionMs: config.app.max_execution_time_ms, maxHeapMiB: config.app.max_heap_mib, interpretersPerKey: config.app.interpreters_per_key || undefined },
      });
    },
    routes: (app, ctx) => appRoutes(app, ctx.need('apps')),
    stop: (ctx) => ctx.need('apps').close(),
  };
}
