import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CodeCache } from '../../functions/process/code-cache.js';
import { DirectoryPlace, PackageStore } from '../../functions/process/package-store.js';
import { NatsObjectPlace } from '../../cluster/object-place.js';
import { FnService } from '../../functions/process/service.js';
import { fnRoutes } from '../../http/routes/fn.js';
import { deriveKey } from '../../kms/master-key.js';
import { Cgroups } from '../../sandbox/process/cgroups.js';
import { Confiner } from '../../sandbox/process/confine.js';
import { defaultFnDir } from '../datadir.js';
import type { Capability } from '../capability.js';

// Fn process functions: content-addressed packages, hot processes confined by bubblewrap and cgroups.

export function fnCapability(): Capability {
  let cgroups: ReturnType<typeof Cgroups.detect> | undefined;
  return {
    name: 'fn',
    async start(ctx) {
      const { config, store, logger, paths, masterKey } = ctx;
      const run = config.fn.cache_dir || defaultFnDir(paths.root);
      // Traversable (not listable) by the uid functions run as: they bind their package and socket from below.
      mkdirSync(run, { recursive: true });
      chmodSync(run, 0o711);
      cgroups = Cgroups.detect();
      if (!cgroups.cgroups) logger.warn({ reason: cgroups.reason }, 'no cgroups for function processes: their memory is held by rlimits, their PIDs and CPU not at all');
      const packageLimits = { maxBytes: config.fn.max_package_bytes, maxEntries: 20000 };
      // A cluster's nodes share packages through NATS, so a function deployed through one runs on any.
      const place = ctx.services.nats ? await NatsObjectPlace.open(ctx.services.nats, `${config.nats.bucket}-fn-packages`, config.nats.replicas, config.nats.timeout_ms) : new DirectoryPlace(paths.fnPackages);
      const packages = new PackageStore(place, deriveKey(masterKey, 'process function packages'));
      const fns = new FnService({
        store,
        logger,
        settings: {
          maxProcessesPerFunction: config.fn.max_processes_per_function,
          startTimeoutMs: config.fn.start_timeout_ms,
          maxResponseBytes: config.fn.max_response_bytes,
          openFiles: config.fn.open_files,
          allowDirectDeploy: config.fn.allow_direct_deploy,
          allowEgress: config.fn.allow_egress,
          packageLimits,
          maxUnusedPackages: config.fn.max_unused_packages,
          unusedPackageTtlMs: config.fn.unused_package_ttl_s * 1000,
          maxFunctionsPerUser: config.fn.max_functions_per_user,
        },
        packages,
        cache: new CodeCache(join(run, 'code'), packages, logger, packageLimits),
        queue: ctx.services.work,
        confiner: new Confiner({ mode: config.fn.confinement, uid: config.fn.uid, gid: config.fn.gid, pids: config.fn.max_pids, cpus: config.fn.cpus, runDir: join(run, 'run'), cgroups: cgroups.cgroups }),
      });
      await fns.open();
      ctx.services.fns = fns;
      ctx.services.work?.handle('fn', (callId, body) => fns.runQueued(callId, body));
    },
    routes: (app, ctx) => fnRoutes(app, ctx.need('fns'), { maxPackageBytes: ctx.config.fn.max_package_bytes, maxBodyBytes: ctx.config.http.max_body_bytes }),
    // Every function process (and its process group) is killed now, and waited for with the listeners.
    stop: (ctx) => ctx.need('fns').close(),
    close() {
      cgroups?.cgroups?.close();
    },
  };
}
