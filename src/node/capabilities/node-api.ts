import { checkApiVersion } from '../../http/routes/gov.js';
import { consoleRoutes } from '../../http/routes/console.js';
import { govReadRoutes } from '../../http/routes/gov-reads.js';
import { ledgerRoutes } from '../../http/routes/ledger.js';
import { type NodeFacts, nodeRoutes, openApiOf } from '../../http/routes/node.js';
import { whoamiRoutes } from '../../http/routes/whoami.js';
import type { Capability } from '../capability.js';

// What every node answers about itself, with no capability of its own behind it: health, who the caller
// is, the web console, CCF's common endpoints (/commit, /tx, /receipt), /node/*, and the public /gov reads.

export function nodeApiCapability(): Capability {
  return {
    name: 'node',
    async routes(app, ctx) {
      const { config, ledger, version } = ctx;
      app.get('/v1/health', async () => ({ status: 'ok', version }));
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
      };
      nodeRoutes(app, facts);
      govReadRoutes(app, { store: ctx.store, principals: ctx.principals, ledger, node: facts });
      // CCF's /gov/api: with an api-version (checked as CCF does), that version's API; without one, the classic description.
      app.get('/gov/api', { schema: { hide: true } }, async (request) => {
        if (new URL(request.url, 'https://node').searchParams.has('api-version')) checkApiVersion(request, ['2023-06-01-preview', '2024-07-01']);
        return openApiOf(app, '/gov/', version);
      });
    },
  };
}
