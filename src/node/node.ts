import { availableParallelism, hostname, totalmem } from 'node:os';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { FunctionRegistry } from '../functions/registry.js';
import { registerBuiltins } from '../functions/builtins/index.js';
import { BuiltinWorkerPool } from '../functions/worker-pool.js';
import { createHttpServer } from '../http/server.js';
import { InFlightLimit } from '../admission/in-flight.js';
import { RateLimiter } from '../admission/rate-limit.js';
import { ConnectionAdmission } from '../admission/per-address.js';
import { PrincipalService } from '../identity/principals.js';
import { SqliteStore } from '../store/sqlite.js';
import { TaskService } from '../tasks/service.js';
import { fns } from '../wire/fns.js';
import { LISTEN_BACKLOG, WireListener } from '../wire/listener.js';
import type { MessageHandler } from '../wire/dispatch.js';
import { kms } from '../wire/kms.js';
import { tdfsExternal, tdfsInternal } from '../wire/tdfs.js';
import { TesseraError } from '../errors/index.js';
import { BlobStore } from '../files/blobs.js';
import { FileService } from '../files/service.js';
import { deriveKey, sealingKeyPath, storeKeysOf, unsealMasterKey } from '../kms/master-key.js';
import { Ledger } from '../store/ledger.js';
import { GovernanceService } from '../governance/service.js';
import { GOV } from '../governance/tables.js';
import { JsEngine } from '../sandbox/js/engine.js';
import { lowerSandboxThreads } from '../sandbox/thread-priority.js';
import { MemoryBudget } from '../sandbox/memory-budget.js';
import { WasmEngine } from '../sandbox/wasm/engine.js';
import { UserFunctions } from '../functions/user.js';
import { AppService, DEFAULT_APP_RUNTIME } from '../apps/service.js';
import { WorkflowRuntime } from '../workflows/runtime.js';
import { edgelessNodeId } from '../workflows/annotations.js';
import { WorkflowService } from '../workflows/service.js';
import { FnService } from '../functions/process/service.js';
import { PackageStore } from '../functions/process/package-store.js';
import { CodeCache } from '../functions/process/code-cache.js';
import { Confiner } from '../sandbox/process/confine.js';
import { PythonSandbox, type PythonSettings } from '../sandbox/process/python/sandbox.js';
import { closeInheritedDescriptors } from '../sandbox/process/inherited-fds.js';
import { Cgroups } from '../sandbox/process/cgroups.js';
import { KeyService } from '../kms/service.js';
import { tmsExternal, tmsInternal } from '../wire/tms.js';
import { loadConfig } from './config.js';
import { unknownEnvVariables } from './config-env.js';
import { createLogger } from './logger.js';
import { nodeMetrics } from './metrics.js';
import { type TesseraConfig, WIRE_LISTENERS, type WireListenerName } from './config-schema.js';
import { dataDirPaths, defaultFnDir } from './datadir.js';
import { VERSION } from './version.js';
import { AttestedIdentity } from '../attestation/attested-identity.js';
import type { ProviderName } from '../attestation/evidence.js';
import { type Measurement, measure } from '../attestation/measurement.js';
import { createProvider } from '../attestation/providers.js';
import { SOFTWARE_WARNING } from '../attestation/software.js';
import { readCa } from '../identity/provision.js';
import { KeyFiles } from '../kms/key-files.js';
import { secureContextOptions } from '../identity/tls.js';
import { measuredSettings } from './measured-settings.js';

export interface NodeOptions {
  dataDir: string;
  httpPort?: number;
  logLevel?: TesseraConfig['log']['level'];
  /** Where logs go; stdout by default. */
  logDestination?: NodeJS.WritableStream;
}

export interface RunningNode {
  config: TesseraConfig;
  logger: Logger;
  /** Bound addresses, by listener name (`https` and the wire listeners). */
  addresses: Record<string, { host: string; port: number }>;
  measurement: Measurement;
  attestation: ProviderName;
  /** What the attestation does not prove, for a provider that gives no hardware guarantee (`software`). */
  attestationWarning?: string;
  close(): Promise<void>;
  /** Settles with the number of workflows restored, once their instances are back (after the listeners open). */
  restored: Promise<number>;
}

/** wire.mesatee_v01_file_dir, checked: off when empty; else an absolute path to an existing directory. */
function v01FileDir(dir: string, logger: Logger): string | undefined {
  if (dir === '') return undefined;
  if (!isAbsolute(dir)) throw new TesseraError('invalid_input', `wire.mesatee_v01_file_dir must be an absolute path, not '${dir}'`);
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    throw new TesseraError('invalid_input', `wire.mesatee_v01_file_dir ${dir} cannot be used: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new TesseraError('invalid_input', `wire.mesatee_v01_file_dir ${dir} is not a directory (a symbolic link is not followed)`);
  if ((st.mode & 0o077) !== 0) {
    logger.warn({ dir, mode: (st.mode & 0o777).toString(8) }, 'wire.mesatee_v01_file_dir is open to group or others: anyone who can write it can make v0.1 uploads fail (not forge them); make it 0700');
  }
  logger.warn({ dir }, 'MesaTEE v0.1 compatibility mode (wire.mesatee_v01_file_dir): wire TDFS Create returns file paths in this directory');
  return dir;
}

const urlHost = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip);

/** Builds every service over one store and opens the listeners; the single place they are wired together. */
export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  // Before anything starts a process: what this process inherited must not pass on to function processes.
  const inherited = closeInheritedDescriptors();
  const paths = dataDirPaths(resolve(opts.dataDir));
  const config = loadConfig(paths.config);
  if (opts.httpPort !== undefined) config.http.port = opts.httpPort;
  if (opts.logLevel) config.log.level = opts.logLevel;
  const logger = createLogger(config.log, opts.logDestination);
  for (const variable of unknownEnvVariables(process.env)) logger.warn({ variable }, `${variable} names no setting of tessera.toml and is ignored (docs/operations.md lists the variables)`);
  if (inherited.length) logger.info({ fds: inherited }, 'closed file descriptors inherited from the parent process, so that no function process gets them');
  // Data directories made before identities were kept beside them hold credentials in the clear.
  if (existsSync(paths.legacyIdentities)) {
    logger.warn({ path: paths.legacyIdentities }, 'this folder holds users\' and members\' credentials in the clear inside the data directory: hand each identity folder to its owner and delete it (new ones go to DATA-identities; docs/at-rest.md)');
  }

  // The server certificate is made now, with fresh evidence and a key that never touches disk. The
  // certificate in DATA/node is the node's client identity towards internal listeners.
  const measurement = measure(measuredSettings(config));
  const masterKey = unsealMasterKey(paths.sealedMasterKey, sealingKeyPath(config.kms.sealing_key_file));
  const keyFiles = new KeyFiles(masterKey);
  const attested = new AttestedIdentity({
    ca: readCa(paths, keyFiles),
    provider: createProvider(config.attestation, { keyFiles, path: paths.platformKey, legacyPath: paths.legacy.platformKey }),
    measurement,
    maxAgeMs: config.attestation.evidence_max_age_s * 1000,
    logger,
  });
  const serverIdentity = await attested.issue();
  const tlsMaterial = { certPem: serverIdentity.certPem, keyPem: serverIdentity.keyPem, caPem: readFileSync(paths.caCert, 'utf8') };
  const store = new SqliteStore(paths.store, storeKeysOf(masterKey));
  const ledger = new Ledger(store, deriveKey(masterKey, 'commit evidence'), {
    certPem: readFileSync(paths.nodeCert, 'utf8'),
    keyPem: keyFiles.read(paths.nodeKey, 'node', paths.legacy.nodeKey),
  });
  const principals = new PrincipalService(store, { N: config.security.scrypt_n, r: 8, p: 1 });
  const keys = new KeyService(store, masterKey);
  const addresses: RunningNode['addresses'] = {};
  const files = new FileService({
    store,
    keys,
    blobs: new BlobStore(paths.blobs),
    maxFileBytes: config.files.max_file_bytes,
    maxFunctionInputBytes: config.files.max_function_input_bytes,
    quota: { files: config.files.max_files_per_user, bytes: config.files.max_bytes_per_user },
    pendingTtlMs: config.files.pending_ttl_s * 1000,
    accessPath: (fileId) => {
      const https = addresses.https;
      if (!https) throw new TesseraError('unavailable', 'file content moves over the HTTPS listener, which is disabled (http.enabled)');
      return `https://${urlHost(config.node.advertise_ip)}:${https.port}/v1/files/${fileId}/content`;
    },
    v01FileDir: v01FileDir(config.wire.mesatee_v01_file_dir, logger),
    logger,
  });
  const swept = files.sweepIncomplete();
  // Files created and never uploaded do not pile up (nor count against their owner's quota) for ever.
  const sweepPending = () => {
    try {
      const n = files.sweepPending();
      if (n) logger.info({ files: n }, `files created but not uploaded within files.pending_ttl_s were removed`);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not sweep pending files');
    }
  };
  sweepPending();
  const pendingSweeper = setInterval(sweepPending, Math.min(600_000, config.files.pending_ttl_s * 1000));
  pendingSweeper.unref();
  if (swept) logger.warn({ files: swept }, 'uploads cut off by the last shutdown were removed');
  const stopLowering = lowerSandboxThreads();
  const budget = new MemoryBudget(config.sandbox.memory_budget_mib || Math.floor((totalmem() / 1048576) * 0.75));
  const engine = new JsEngine(budget);
  let registered: UserFunctions | undefined;
  const functions = new FunctionRegistry(
    (name) => store.read((tx) => tx.get<{ enabled: boolean }>(GOV.functions, name))?.enabled !== false,
    (id) => (id.startsWith('fn:') ? processFunctions.taskDefinition(id.slice(3)) : registered?.definition(id)),
  );
  // Built-ins run on worker threads, never on this event loop; one whose task times out loses its thread.
  // Python (mesapy_from_buffer, kind "python") runs in processes confined as process functions are.
  const python: PythonSettings = {
    confinement: config.fn.confinement,
    uid: config.fn.uid,
    gid: config.fn.gid,
    runDir: join(config.fn.cache_dir || defaultFnDir(paths.root), 'python'),
    memoryMib: config.tasks.python_memory_mib,
    timeoutMs: config.tasks.function_timeout_ms,
    maxMessageBytes: 2 * config.files.max_function_input_bytes + 1024 * 1024,
  };
  mkdirSync(dirname(python.runDir), { recursive: true });
  chmodSync(dirname(python.runDir), 0o711);
  const builtinWorkers = new BuiltinWorkerPool({ size: config.tasks.builtin_workers, logger, settings: { maxImagePixels: config.files.max_image_pixels, python } });
  registerBuiltins(functions, builtinWorkers);
  registered = new UserFunctions(store, engine, new WasmEngine(budget), new Set(functions.list().map((f) => f.name)), { heapMiB: config.tasks.max_function_heap_mib, cpuMs: config.tasks.max_function_cpu_ms, memoryPages: config.tasks.max_function_memory_pages }, config.tasks.max_functions_per_user, new PythonSandbox(python));
  const apps = new AppService({ store, principals, engine, ledger, logger, version: VERSION, history: (table, seqno) => store.stateAt(table, seqno), runtime: { ...DEFAULT_APP_RUNTIME, returnExceptionDetails: config.app.return_exception_details, maxExecutionMs: config.app.max_execution_time_ms, maxHeapMiB: config.app.max_heap_mib, interpretersPerKey: config.app.interpreters_per_key || undefined } });
  // EDGELESS names nodes by UUID: this node's is its id (the SHA-256 of its key, stable while the key is)
  // cut to 16 bytes, so node_id_match_any can name it and slf() shows it across restarts.
  const workflowNodeId = edgelessNodeId(ledger.id);
  const runtime = new WorkflowRuntime({
    nodeId: workflowNodeId,
    store,
    logger,
    limits: { heapMiB: config.workflows.heap_mib, eventMs: config.workflows.event_timeout_ms },
    callTimeoutMs: config.workflows.call_timeout_ms,
    maxRestartsPerMinute: config.workflows.max_restarts_per_minute,
    threads: config.workflows.threads || Math.max(16, 4 * availableParallelism()),
    budget,
  });
  const resourceSettings = {
    egressHosts: config.workflows.egress_hosts,
    fileLog: { enabled: config.workflows.resources.file_log.enabled, maxFileBytes: config.workflows.resources.file_log.max_file_bytes },
    redis: { allowedUrls: config.workflows.resources.redis.allowed_urls },
    sqlx: { enabled: config.workflows.resources.sqlx.enabled, maxDatabaseBytes: config.workflows.resources.sqlx.max_database_bytes, queryTimeLimitMs: config.workflows.resources.sqlx.query_time_limit_ms },
    filePusher: { directory: config.workflows.resources.file_pusher.directory },
    serverless: config.workflows.resources.serverless,
    kafkaEgress: { brokers: config.workflows.resources.kafka_egress.brokers },
  };
  const workflows = new WorkflowService({ store, runtime, logger, resources: resourceSettings, files: { root: paths.workflowFiles, key: deriveKey(masterKey, 'workflow resource files') }, eventLimits: { defaultMs: config.workflows.event_timeout_ms, maxMs: config.workflows.max_event_timeout_ms }, maxPerOwner: config.workflows.max_workflows_per_user, placement: { nodeId: workflowNodeId, hostname: hostname(), labels: config.workflows.labels, attestation: config.attestation.provider } });
  const fnRun = config.fn.cache_dir || defaultFnDir(paths.root);
  // Traversable (not listable) by the uid functions run as: they bind their package and socket from below.
  mkdirSync(fnRun, { recursive: true });
  chmodSync(fnRun, 0o711);
  const cgroups = Cgroups.detect();
  if (!cgroups.cgroups) logger.warn({ reason: cgroups.reason }, 'no cgroups for function processes: their memory is held by rlimits, their PIDs and CPU not at all');
  const packageLimits = { maxBytes: config.fn.max_package_bytes, maxEntries: 20000 };
  const packages = new PackageStore(paths.fnPackages, deriveKey(masterKey, 'process function packages'));
  const processFunctions = new FnService({
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
    cache: new CodeCache(join(fnRun, 'code'), packages, logger, packageLimits),
    confiner: new Confiner({ mode: config.fn.confinement, uid: config.fn.uid, gid: config.fn.gid, pids: config.fn.max_pids, cpus: config.fn.cpus, runDir: join(fnRun, 'run'), cgroups: cgroups.cgroups }),
  });
  await processFunctions.open();
  const governance = new GovernanceService({ store, principals, engine, builtins: new Set(functions.list().map((f) => f.name)), logger, processes: processFunctions, maxClockSkewS: config.governance.max_clock_skew_s, lastSignature: () => ledger.lastSignature(), serviceCertPem: tlsMaterial.caPem });

  const fnsAddress = () => ({
    ip: config.node.advertise_ip,
    port: config.node.advertise_fns_port || addresses.fns?.port || WIRE_LISTENERS.fns.port,
  });
  const tasks = new TaskService({
    store,
    functions,
    files,
    fnsAddress,
    functionTimeoutMs: config.tasks.function_timeout_ms,
    maxTasksPerUser: config.tasks.max_tasks_per_user,
    logger,
    tokenKey: deriveKey(masterKey, 'task tokens'),
  });
  const recovered = tasks.recoverInterrupted();
  if (recovered) logger.warn({ tasks: recovered }, 'tasks interrupted by the last shutdown were marked Failed');

  const handlers: Record<WireListenerName, MessageHandler> = {
    // FNS first, so task replies can name its real port.
    fns: fns(tasks, files),
    tms_external: tmsExternal(tasks, principals, files),
    tms_internal: tmsInternal(tasks),
    kms: kms(keys),
    tdfs_external: tdfsExternal(files, principals),
    tdfs_internal: tdfsInternal(files),
  };
  const listeners: WireListener[] = [];
  // One limiter for both kinds of listener: an identity's rate is the same whichever protocol it uses.
  const rateLimiter = new RateLimiter(config.limits.user_requests_per_second, config.limits.user_burst);
  // Ready once the workflows are back (below); stopping from the first signal.
  const life = { ready: false, stopping: false };
  const readiness = { ready: () => life.ready, stopping: () => life.stopping, startupSeqno: ledger.lastCommitted() };
  const inFlight = { identified: new InFlightLimit(config.limits.max_requests_in_flight), anonymous: new InFlightLimit(config.limits.max_anonymous_requests_in_flight, 'limits.max_anonymous_requests_in_flight') };
  const metrics = nodeMetrics({ version: VERSION, store, ledger, builtinWorkers, fns: processFunctions, runtime, inFlight, listeners });
  const http = config.http.enabled
    ? await createHttpServer({ tls: tlsMaterial, maxBodyBytes: config.http.max_body_bytes, handshakeTimeoutMs: config.http.handshake_timeout_ms, headersTimeoutMs: config.http.headers_timeout_ms, maxConnections: config.http.max_connections, inFlight: inFlight.identified, rateLimiter, logger, version: VERSION, principals, files, tasks, functions, ledger, governance, registered, apps, workflows, metrics, fns: processFunctions, maxPackageBytes: config.fn.max_package_bytes, admission: new ConnectionAdmission({ maxPerAddress: config.limits.max_connections_per_address, maxHandshaking: config.limits.max_handshaking_connections }), anonymous: { inFlight: inFlight.anonymous, requestTimeoutMs: config.limits.anonymous_request_timeout_ms }, durable: () => store.durable(), store, appRuntime: { maxExecutionMs: config.app.max_execution_time_ms, maxHeapMiB: config.app.max_heap_mib, maxCachedInterpreters: 10 }, readiness })
    : null;

  const signer = setInterval(() => {
    try {
      ledger.sign();
    } catch (err) {
      logger.error({ err }, 'could not sign the ledger');
    }
  }, config.ledger.signature_interval_ms);
  signer.unref();

  const close = async () => {
    life.stopping = true;
    attested.stop();
    // Every function process (and its process group) is killed now, and waited for below.
    const functionsEnded = processFunctions.close();
    runtime.close();
    await apps.close();
    stopLowering();
    clearInterval(signer);
    clearInterval(pendingSweeper);
    const grace = config.node.shutdown_grace_ms;
    await Promise.all([...listeners.map((l) => l.close(grace)), http?.close(), functionsEnded]);
    cgroups.cgroups?.close();
    await builtinWorkers.close();
    // Everything committed leaves with a signature over it.
    ledger.sign();
    store.close();
    logger.info('stopped');
    logger.flush();
  };

  try {
    for (const [name, handler] of Object.entries(handlers) as [WireListenerName, MessageHandler][]) {
      const lc = config.wire[name];
      if (!lc.enabled) continue;
      const listener = new WireListener({
        name,
        host: lc.host,
        port: lc.port,
        audience: WIRE_LISTENERS[name].audience,
        tls: tlsMaterial,
        limits: {
          maxFrameBytes: config.wire.max_frame_bytes,
          frameTimeoutMs: config.wire.frame_timeout_ms,
          idleTimeoutMs: config.wire.idle_timeout_ms,
        },
        maxConnections: config.wire.max_connections,
        admission: new ConnectionAdmission({ maxPerAddress: config.limits.max_connections_per_address, maxHandshaking: config.limits.max_handshaking_connections }),
        principals,
        handler,
        logger,
        durable: () => store.durable(),
        rateLimiter,
        handshakeTimeoutMs: config.wire.handshake_timeout_ms,
      });
      const address = await listener.listen();
      listeners.push(listener);
      addresses[name] = { host: address.address, port: address.port };
    }
    if (http) {
      await http.listen({ host: config.http.host, port: config.http.port, backlog: LISTEN_BACKLOG });
      const address = http.server.address() as { address: string; port: number };
      addresses.https = { host: address.address, port: address.port };
    }
  } catch (err) {
    await close();
    throw err;
  }
  // Workflows come back once the node answers: their init runs on isolate threads while requests are served.
  const restored = workflows.restoreAll().then(
    (n) => {
      if (n) logger.info({ workflows: n }, 'workflows restored with their synced state');
      return n;
    },
    (err) => {
      logger.error({ err }, 'workflows could not be restored');
      return 0;
    },
  );
  // Ready even if a restore failed: that is logged, and the rest of the node serves.
  void restored.then(() => {
    life.ready = true;
    logger.info('node ready (GET /node/state answers)');
  });
  attested.renewEvery((pair) => {
    const material = { ...tlsMaterial, certPem: pair.certPem, keyPem: pair.keyPem };
    for (const l of listeners) l.updateTls(material);
    http?.server.setSecureContext(secureContextOptions(material));
  });
  const attestation = serverIdentity.evidence.provider;
  return { config, logger, addresses, measurement, attestation, attestationWarning: attestation === 'software' ? SOFTWARE_WARNING : undefined, close, restored };
}
