import { totalmem } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { createHttpServer } from '../http/server.js';
import { TesseraError } from '../errors/index.js';
import { InFlightLimit } from '../admission/in-flight.js';
import { RateLimiter } from '../admission/rate-limit.js';
import { ConnectionAdmission } from '../admission/per-address.js';
import { PrincipalService } from '../identity/principals.js';
import { SqliteStore } from '../store/sqlite.js';
import { SigningLease } from '../store/postgres-lease.js';
import { Membership } from '../cluster/membership.js';
import { edgelessNodeId } from '../workflows/annotations.js';
import { refuseNewerFile } from '../store/schema.js';
import { describeStore, openStore } from './open-store.js';
import { LISTEN_BACKLOG, WireListener } from '../wire/listener.js';
import type { MessageHandler } from '../wire/dispatch.js';
import { deriveKey, sealingKeyPath, unsealMasterKey } from '../kms/master-key.js';
import { Ledger } from '../store/ledger.js';
import { JsEngine } from '../sandbox/js/engine.js';
import { lowerSandboxThreads } from '../sandbox/thread-priority.js';
import { MemoryBudget } from '../sandbox/memory-budget.js';
import { closeInheritedDescriptors } from '../sandbox/process/inherited-fds.js';
import { loadConfig } from './config.js';
import { unknownEnvVariables } from './config-env.js';
import { createLogger } from './logger.js';
import { nodeMetrics } from './metrics.js';
import { type TesseraConfig, WIRE_LISTENERS, type WireListenerName } from './config-schema.js';
import { dataDirPaths } from './datadir.js';
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
import type { FastifyInstance } from 'fastify';
import { type Capability, type NodeContext, type Services, servicesOf } from './capability.js';
import { capabilities } from './capabilities/index.js';
import { awaitTrust } from './node-join.js';

export interface NodeOptions {
  dataDir: string;
  httpPort?: number;
  /** Ports by listener (`https` and the wire listeners' names), overriding tessera.toml (`tessera serve --port-base` and per-listener flags). */
  ports?: Partial<Record<'https' | WireListenerName, number>>;
  logLevel?: TesseraConfig['log']['level'];
  /** Overrides node.role (`tessera serve --role`). */
  role?: TesseraConfig['node']['role'];
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
  restored: Promise<void>;
}

/**
 * Builds the core every capability shares (config, keys, attested identity, store, ledger, principals), starts
 * each capability in turn (src/node/capabilities/), and opens the listeners with what they contribute.
 */
export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  // Before anything starts a process: what this process inherited must not pass on to function processes.
  const inherited = closeInheritedDescriptors();
  const paths = dataDirPaths(resolve(opts.dataDir));
  const config = loadConfig(paths.config);
  // Before anything in the data directory is read or written: a store from a newer Tessera is refused whole.
  if (config.store.backend === 'sqlite') refuseNewerFile(paths.store);
  if (opts.httpPort !== undefined) config.http.port = opts.httpPort;
  for (const [name, port] of Object.entries(opts.ports ?? {})) {
    if (port === undefined) continue;
    if (name === 'https') config.http.port = port;
    else config.wire[name as WireListenerName].port = port;
  }
  if (opts.logLevel) config.log.level = opts.logLevel;
  if (opts.role) config.node.role = opts.role;
  if (config.node.role !== 'all' && config.store.backend !== 'postgres') {
    throw new TesseraError('invalid_input', `node.role = "${config.node.role}" is for a node of a cluster (store.backend = "postgres"); one node on SQLite answers requests and runs its work, so its role is "all" (docs/cluster.md)`);
  }
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
  const store = openStore(config, paths, masterKey);
  logger.info({ store: describeStore(config, paths) }, 'store opened');
  if (store instanceof SqliteStore && store.migrated.from !== store.migrated.to) logger.info({ from: store.migrated.from, to: store.migrated.to }, 'store schema migrated (docs/upgrades.md)');
  // Of the nodes sharing one PostgreSQL store, only the holder of the signing lease signs the ledger; the
  // others serve receipts from the signatures it stores. One node on SQLite always signs.
  const lease = config.store.backend === 'postgres' ? new SigningLease({ connection: config.store.url, schema: config.store.schema, timeoutMs: config.store.timeout_ms }) : null;
  lease?.onLost(() => logger.warn('lost the ledger signing lease: this node stops signing (another node may take it)'));
  const ledger = new Ledger(
    store,
    deriveKey(masterKey, 'commit evidence'),
    {
      certPem: readFileSync(paths.nodeCert, 'utf8'),
      keyPem: keyFiles.read(paths.nodeKey, 'node', paths.legacy.nodeKey),
    },
    { canSign: () => lease === null || lease.held() },
  );
  // A node of a cluster is alive while it holds its own advisory lock (src/cluster/membership.ts); it takes
  // it before any capability starts, so nothing it restores can race a peer moving its work away.
  const membership = config.store.backend === 'postgres' ? new Membership({ connection: config.store.url, schema: config.store.schema, nodeId: edgelessNodeId(ledger.id), store, logger, timeoutMs: config.store.timeout_ms }) : null;
  try {
    await membership?.join();
  } catch (err) {
    await lease?.release().catch(() => {});
    store.close();
    throw err;
  }
  const principals = new PrincipalService(store, { N: config.security.scrypt_n, r: 8, p: 1 });
  const stopLowering = lowerSandboxThreads();
  const budget = new MemoryBudget(config.sandbox.memory_budget_mib || Math.floor((totalmem() / 1048576) * 0.75));
  // Ready once what capabilities restore after the listeners open is back (workflows); stopping from the first signal.
  const life = { ready: false, stopping: false };
  const services: Partial<Services> = {};
  const ctx: NodeContext = {
    config,
    paths,
    logger,
    version: VERSION,
    masterKey,
    keyFiles,
    tls: tlsMaterial,
    store,
    ledger,
    principals,
    budget,
    engine: new JsEngine(budget),
    readiness: { ready: () => life.ready, stopping: () => life.stopping, startupSeqno: ledger.lastCommitted() },
    membership,
    addresses: {},
    services,
    need: servicesOf(services),
  };
  const { addresses } = ctx;
  const offered = capabilities();
  // A worker runs work and answers only what a node says of itself; users reach the cluster's other nodes.
  const serving = config.node.role === 'worker' ? offered.filter((c) => c.onWorkers) : offered;
  const started: Capability[] = [];
  const listeners: WireListener[] = [];
  let http: Awaited<ReturnType<typeof createHttpServer>> | null = null;
  let signer: NodeJS.Timeout | undefined;

  // Once: governance retiring the node and a signal may both ask for it.
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= closeOnce());
  const closeOnce = async () => {
    life.stopping = true;
    attested.stop();
    stopLowering();
    clearInterval(signer);
    const stopping = started.map((c) => c.stop?.(ctx));
    const grace = config.node.shutdown_grace_ms;
    await Promise.all([...listeners.map((l) => l.close(grace)), http?.close(), ...stopping]);
    for (const c of [...started].reverse()) await c.close?.(ctx);
    // Everything committed leaves with a signature over it (by this node, if it holds the lease).
    ledger.sign();
    await lease?.release().catch(() => {});
    await membership?.close().catch(() => {});
    store.close();
    logger.info('stopped');
    logger.flush();
  };

  try {
    // A node of a cluster serves only once governance trusts it, and stops if it retires it (docs/cluster.md).
    await awaitTrust({ store, logger, nodeCertPath: paths.nodeCert, attested: serverIdentity, stopping: () => life.stopping, onRetired: () => void close() });
    for (const capability of offered) {
      await capability.start?.(ctx);
      started.push(capability);
    }
    // One limiter for both kinds of listener: an identity's rate is the same whichever protocol it uses.
    const rateLimiter = new RateLimiter(config.limits.user_requests_per_second, config.limits.user_burst);
    const inFlight = { identified: new InFlightLimit(config.limits.max_requests_in_flight), anonymous: new InFlightLimit(config.limits.max_anonymous_requests_in_flight, 'limits.max_anonymous_requests_in_flight') };
    const metrics = nodeMetrics({ version: VERSION, store, ledger, builtinWorkers: ctx.need('builtinWorkers'), fns: ctx.need('fns'), runtime: ctx.need('runtime'), inFlight, listeners });
    const admission = () => new ConnectionAdmission({ maxPerAddress: config.limits.max_connections_per_address, maxHandshaking: config.limits.max_handshaking_connections });
    if (config.http.enabled) {
      http = await createHttpServer({
        tls: tlsMaterial,
        maxBodyBytes: config.http.max_body_bytes,
        handshakeTimeoutMs: config.http.handshake_timeout_ms,
        headersTimeoutMs: config.http.headers_timeout_ms,
        maxConnections: config.http.max_connections,
        inFlight: inFlight.identified,
        rateLimiter,
        logger,
        version: VERSION,
        principals,
        metrics,
        admission: admission(),
        anonymous: { inFlight: inFlight.anonymous, requestTimeoutMs: config.limits.anonymous_request_timeout_ms },
        durable: () => store.durable(),
        routes: serving.flatMap((c) => (c.routes ? [(app: FastifyInstance) => c.routes!(app, ctx)] : [])),
      });
    }

    signer = setInterval(() => {
      if (lease && !lease.held()) {
        void lease.tryAcquire().then(
          (took) => took && logger.info('took the ledger signing lease: this node signs'),
          (err: Error) => logger.warn({ err: err.message }, 'could not ask for the ledger signing lease'),
        );
      }
      try {
        ledger.sign();
      } catch (err) {
        logger.error({ err }, 'could not sign the ledger');
      }
    }, config.ledger.signature_interval_ms);
    signer.unref();

    const handlers: Partial<Record<WireListenerName, MessageHandler>> = Object.assign({}, ...serving.map((c) => c.wire?.(ctx) ?? {}));
    // FNS first, so task replies can name its real port.
    const order = (Object.keys(WIRE_LISTENERS) as WireListenerName[]).sort((a, b) => Number(b === 'fns') - Number(a === 'fns'));
    for (const name of order) {
      const handler = handlers[name];
      const lc = config.wire[name];
      if (!handler || !lc.enabled) continue;
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
        admission: admission(),
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
  // Ready even if a restore failed: that is logged, and the rest of the node serves.
  const restored = Promise.allSettled(offered.map((c) => c.opened?.(ctx))).then(() => undefined);
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
