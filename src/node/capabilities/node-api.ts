import { govApiRoutes, healthRoutes } from '../../http/routes/service.js';
import { consoleRoutes } from '../../http/routes/console.js';
import { govReadRoutes } from '../../http/routes/gov-reads.js';
import { ledgerRoutes } from '../../http/routes/ledger.js';
import { type NodeFacts, nodeRoutes } from '../../http/routes/node.js';
import { whoamiRoutes } from '../../http/routes/whoami.js';
import type { Capability } from '../capability.js';

// What every node answers about itself, with no capability of its own behind it: health, who the caller
// is, the web console, CCF's common endpoints (/commit, /tx, /receipt), /node/*, and the public /gov reads.

export function nodeApiCapability(): Capability {
  return {
    name: 'node',
    onWorkers: true,
    async routes(app, ctx) {
      const { config, ledger, version } = ctx;
      healthRoutes(app, version);
      await consoleRoutes(app);
      whoamiRoutes(app);
      ledgerRoutes(app, ledger);
      const facts: NodeFacts = {
        ledger,
        certPem: ctx.tls.certPem,
        caPem: ctx.tls.caPem,
        version,
        appRuntime: { maxExecutionMs: config.app.max_execution_time_ms, maxHeapMiB: config.app.max_heap_mib, maxCachedInterpreters: 10 },
        readiness: ctx.readiness,
        listeners: () => ctx.addresses,
        store: ctx.store,
      };
      nodeRoutes(app, facts);
      govReadRoutes(app, { store: ctx.store, principals: ctx.principals, ledger, node: facts });
      govApiRoutes(app, version);
    },
  };
}
