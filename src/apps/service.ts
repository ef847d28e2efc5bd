import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import { GOV, type JsRuntimeOptions } from '../governance/tables.js';
import { certIdOfPem } from '../crypto/certificates.js';
import type { PrincipalService } from '../identity/principals.js';
import { FreshPools, type Interpreter, type JsEngine, ModuleLoadError } from '../sandbox/js/engine.js';
import { KeptInterpreters } from './kept-interpreters.js';
import { type Ledger, parseTxId, txIdOf, VIEW } from '../store/ledger.js';
import type { PendingTx, Store } from '../store/types.js';
import { AppAuth, type AuthInput } from './auth.js';
import { CCF_CRYPTO } from '../crypto/ccf-crypto.js';
import { type EndpointInfo, loadEndpoints, match, openApiDocument } from './endpoints.js';
import { historicalKvHost, kvHost } from './kv.js';
import { CCF_PRELUDE, dispatchModule } from './prelude.js';

export interface AppRequest extends AuthInput {
  method: string;
  /** The path without /app, e.g. /compute2/mul/5/7. */
  path: string;
  query: string;
  hostname: string | null;
}

/**
 * What a request to the app comes to when it is not an error (errors are thrown as TesseraError, with
 * CCF's code, and sent by src/http/): the handler's own response, passed through unchanged; the methods a
 * path takes (OPTIONS); or a historical transaction whose state is still being fetched.
 */
export type AppOutcome =
  | {
      kind: 'response';
      status: number;
      /** The transaction the response reflects (CCF's x-ms-ccf-transaction-id): its own commit, or the last one it read. */
      transactionId: string;
      contentType: string | null;
      /** The handler's own headers, which win over the two above. */
      headers: Record<string, string>;
      body: Buffer | null;
    }
  | { kind: 'options'; allow: string[] }
  | { kind: 'historical_pending'; transactionId: string };

export interface AppRuntimeOptions {
  /** CCF's max_execution_time_ms (default 5000). */
  maxExecutionMs: number;
  /** CCF's max_heap_bytes, in MiB (default 100). */
  maxHeapMiB: number;
  /** CCF's return_exception_details. */
  returnExceptionDetails: boolean;
  /** How often a conflicting transaction is re-executed before 503. */
  maxAttempts: number;
  /** Kept interpreters per interpreter_reuse key (CCF 7: one, locked per request); default defaultInterpretersPerKey(). */
  interpretersPerKey?: number;
}

interface DispatchResult {
  failure?: 'no_export' | 'exception' | 'not_object' | 'status_type' | 'json';
  message?: string;
  trace?: string;
  statusCode?: number;
  body?: ArrayBuffer | null;
  contentType?: string | null;
  headers?: Record<string, string>;
}

/** Runs the deployed CCF app: one sandboxed handler call per request, inside one Store transaction. */
export class AppService {
  private readonly auth: AppAuth;
  /** Kept interpreters by interpreter_reuse key, each serving one request at a time (kept-interpreters.ts). */
  private readonly interpreters: KeptInterpreters<Interpreter>;
  private readonly fresh = new FreshPools(10);
  /** The deployed app as of the last deployment seen: re-read only when a deployment changes the flush record. */
  private deployment: { version: number | undefined; options: number | undefined; codeCache: boolean; endpoints: ReturnType<typeof loadEndpoints>; modules: Record<string, string> } | null = null;

  constructor(
    private readonly opts: {
      store: Store;
      principals: PrincipalService;
      engine: JsEngine;
      ledger: Ledger;
      logger: Logger;
      version: string;
      runtime: AppRuntimeOptions;
      /** A table's contents as of a past transaction (historical endpoints). */
      history: (table: string, seqno: number) => Map<string, unknown>;
    },
  ) {
    this.auth = new AppAuth(opts.principals, opts.store);
    this.runtime = opts.runtime;
    this.interpreters = new KeptInterpreters<Interpreter>(
      (i) => i.dispose(),
      (i) => !i.isolate.isDisposed,
      opts.runtime.interpretersPerKey,
    );
  }

  openApi() {
    return openApiDocument(this.deployed().endpoints, this.opts.version);
  }

  /**
   * Every deployment, removal or bytecode refresh rewrites the flush record, so its version says when the
   * endpoints and modules must be read again; the change also evicts kept interpreters, fresh-context pools
   * and compiled code, as CCF does.
   */
  /** At node shutdown: kept interpreters go, and fresh-context pools once nothing is made in them. */
  async close(): Promise<void> {
    this.interpreters.clear();
    await this.fresh.close();
  }

  /** The runtime options in force: the node's config, replaced by governance's set_js_runtime_options once set (as CCF does). */
  private runtime: AppRuntimeOptions & { logExceptionDetails?: boolean };

  /** The store version at which the deployment was last checked: nothing can change it without a commit. */
  private deployedAt: string | null = null;

  private deployed() {
    // One cheap read of the store's version per request instead of a read transaction over the flush record.
    const at = this.opts.store.version();
    if (this.deployment && this.deployedAt === at) return this.deployment;
    const checked = this.checkDeployment();
    this.deployedAt = at;
    return checked;
  }

  private checkDeployment() {
    const [version, options] = this.opts.store.read((tx) => [tx.versionOf(GOV.interpreterFlush, 'flush'), tx.versionOf(GOV.jsRuntimeOptions, 'options')]);
    if (this.deployment && this.deployment.version === version && this.deployment.options === options) return this.deployment;
    const set = this.opts.store.read((tx) => tx.get<JsRuntimeOptions>(GOV.jsRuntimeOptions, 'options'));
    this.runtime = set
      ? {
          ...this.opts.runtime,
          maxExecutionMs: set.max_execution_time_ms,
          maxHeapMiB: Math.max(8, Math.ceil(set.max_heap_bytes / 1048576)),
          returnExceptionDetails: set.return_exception_details === true,
          logExceptionDetails: set.log_exception_details === true,
        }
      : this.opts.runtime;
    this.interpreters.clear();
    this.fresh.clear();
    this.opts.engine.clearCodeCache();
    this.dispatchModules.clear();
    this.deployment = this.opts.store.read((tx) => ({
      version,
      options,
      codeCache: tx.get<{ disable_bytecode_cache?: boolean }>(GOV.interpreterFlush, 'flush')?.disable_bytecode_cache !== true,
      endpoints: loadEndpoints(tx.list<EndpointInfo>(GOV.endpoints)),
      modules: Object.fromEntries(tx.list<string>(GOV.modules)),
    }));
    return this.deployment;
  }

  /** Runs one request. Throws a TesseraError for whatever CCF answers with an error. */
  async handle(req: AppRequest): Promise<AppOutcome> {
    const { version: deploymentVersion, codeCache, endpoints, modules } = this.deployed();
    const found = match(endpoints, req.method, req.path);
    if ('options' in found) return { kind: 'options', allow: found.options };
    const { endpoint, params } = found;
    const started = performance.now();
    let historical: { transactionId: string; receipt: unknown; seqno: number } | null = null;
    if (endpoint.info.mode === 'historical') {
      const header = req.headers['x-ms-ccf-transaction-id'];
      if (!header) throw new TesseraError('missing_required_header', 'Missing required header x-ms-ccf-transaction-id.');
      const tx = parseTxId(header);
      if (!tx) throw new TesseraError('invalid_header_value', `Unable to parse '${header}' as a transaction id (view.seqno).`);
      const status = this.opts.ledger.status(header);
      if (status === 'Invalid') throw new TesseraError('tx_invalid', `Transaction ${header} is invalid.`);
      if (status !== 'Committed') throw new TesseraError('tx_pending_or_unknown', `Transaction ${header} is pending or unknown.`);
      const receipt = this.opts.ledger.receipt(header);
      if (!receipt) return { kind: 'historical_pending', transactionId: header };
      historical = { transactionId: header, receipt: { ...receipt, is_signature_transaction: false }, seqno: tx.seqno };
    }
    const auth = await this.auth.authenticate(endpoint.info.authn_policies, req, this.opts.store.begin());
    if ('failures' in auth) {
      throw new TesseraError('unauthenticated', 'Invalid authentication credentials.', { details: auth.failures, challenge: auth.challenge });
    }
    const route = `/app${endpoint.url}`;
    const request = {
      headers: req.headers,
      query: req.query,
      path: `/app${req.path}`,
      method: req.method,
      hostname: req.hostname,
      route,
      url: `/app${req.path}${req.query ? `?${req.query}` : ''}`,
      params,
      caller: auth.caller,
    };
    const mode = endpoint.info.mode === 'readwrite' ? 'readwrite' : 'readonly';
    for (let attempt = 1; ; attempt++) {
      const tx = this.opts.store.begin();
      const state = { applyWrites: null as boolean | null, claims: null as ArrayBuffer | null, metrics: true };
      let result: DispatchResult;
      const reuse = endpoint.info.interpreter_reuse?.key && !historical ? `${deploymentVersion}\0${endpoint.info.interpreter_reuse.key}\0${endpoint.info.js_module}\0${endpoint.info.js_function}` : null;
      // The request's host functions work only while its call runs: once it settles they throw, so nothing
      // the interpreter does later (it may be kept) reaches this transaction.
      const bound = bindToRequest({
        ...this.host(tx, mode, state),
        ...(historical
          ? {
              __h_historical: () => ({ transactionId: historical!.transactionId, receipt: historical!.receipt }),
              __h_hkv: historicalKvHost((table) => this.opts.history(table, historical!.seqno), historical.seqno),
            }
          : {}),
      });
      try {
        const job = {
          codeCache,
          modules: this.modulesFor(deploymentVersion, modules, endpoint.info),
          entry: '/__ccf_dispatch.js',
          wrapper: true,
          exportName: '__dispatch',
          args: [request, req.body.buffer.slice(req.body.byteOffset, req.body.byteOffset + req.body.byteLength)],
          prelude: CCF_PRELUDE,
          host: bound.host,
          limits: { cpuMs: this.runtime.maxExecutionMs, heapMiB: this.runtime.maxHeapMiB },
          kind: 'app' as const,
        };
        // The deployment is in the key, so a request that read an older deployment never refills a pool with its code.
        const fresh = `${deploymentVersion}\0${historical ? 'historical' : 'current'}\0${endpoint.info.js_module}\0${endpoint.info.js_function}`;
        // A kept interpreter is bound to one request at a time (the engine points its host at its holder):
        // a request takes a free one of the key's interpreters, makes one if the key has fewer than its
        // share, or waits until one is free, so a slow handler's host calls never reach another
        // request's transaction.
        result = (await (reuse
          ? this.interpreters.run(reuse, (slot) => this.opts.engine.runReused(slot, job))
          : this.opts.engine.runFresh(this.fresh, fresh, job))) as DispatchResult;
      } catch (err) {
        throw this.engineFailure(err as TesseraError);
      } finally {
        bound.revoke();
      }
      if (result.failure) throw this.handlerFailure(result, endpoint.info);
      const status = result.statusCode!;
      const apply = state.applyWrites ?? (status >= 200 && status < 300);
      let seqno: number | null = null;
      if (apply) {
        if (state.claims) tx.setClaimsDigest(Buffer.from(state.claims).toString('hex'));
        try {
          seqno = tx.commit();
        } catch (err) {
          if ((err as TesseraError).code !== 'conflict') throw err;
          if (attempt >= this.opts.runtime.maxAttempts) {
            throw new TesseraError('tx_commit_attempts_exceeded', `Transaction continued to conflict after ${this.opts.runtime.maxAttempts} attempts. Retry later.`, { retryAfterSeconds: 3 });
          }
          continue;
        }
      }
      if (state.metrics) {
        this.opts.logger.info({ tag: 'js' }, `JS execution complete: Method=${req.method}, Path=${route}, Status=${status}, ExecMilliseconds=${Math.round(performance.now() - started)}`);
      }
      return {
        kind: 'response',
        status,
        transactionId: txIdOf(seqno ?? this.opts.ledger.lastCommitted()),
        contentType: result.contentType ?? null,
        headers: result.headers ?? {},
        body: result.body ? Buffer.from(result.body) : null,
      };
    }
  }

  /** Each endpoint's modules with its dispatch wrapper, made once per deployment (cleared at the next). */
  private readonly dispatchModules = new Map<string, Record<string, string>>();

  private modulesFor(deployment: number | undefined, modules: Record<string, string>, info: EndpointInfo): Record<string, string> {
    // The deployment is in the key: a request that read an older one (and awaited since) never fills this with its code.
    const key = `${deployment}\0${info.js_module}\0${info.js_function}`;
    let found = this.dispatchModules.get(key);
    if (!found) this.dispatchModules.set(key, (found = { ...modules, '/__ccf_dispatch.js': dispatchModule(info.js_module, info.js_function) }));
    return found;
  }

  private host(tx: PendingTx, mode: 'readwrite' | 'readonly', state: { applyWrites: boolean | null; claims: ArrayBuffer | null; metrics: boolean }) {
    const ledger = this.opts.ledger;
    const decoder = new TextDecoder('utf-8', { fatal: false });
    return {
      // Math.random as CCF makes it (src/js/extensions/math/random.cpp): 64 bits from the CSPRNG, the top 52 as the fraction.
      __h_random: () => Number(randomBytes(8).readBigUInt64BE() >> 12n) / 2 ** 52,
      // A log line is cut at 16 K characters: a handler cannot make the node write megabytes per call.
      __h_log: (level: unknown, message: unknown) => {
        const text = String(message);
        const line = text.length > 16384 ? `${text.slice(0, 16384)}… (${text.length - 16384} more characters cut)` : text;
        this.opts.logger[level === 'fatal' ? 'error' : level === 'fail' ? 'warn' : level === 'debug' ? 'debug' : 'info']({ tag: 'js' }, line);
      },
      __h_strToBuf: (s: string) => {
        const b = Buffer.from(s, 'utf8');
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
      },
      __h_bufToStr: (b: ArrayBuffer) => decoder.decode(b),
      __h_pemToId: (pem: string) => certIdOfPem(pem),
      __h_kv: kvHost(tx, mode),
      __h_rpc: (kind: string, value: unknown) => {
        if (kind === 'applyWrites') state.applyWrites = value as boolean;
        else if (kind === 'claims') state.claims = value as ArrayBuffer;
        else if (kind === 'metrics') state.metrics = value as boolean;
      },
      __h_crypto: (name: string, ...args: unknown[]) => {
        const fn = CCF_CRYPTO[name];
        if (!fn) throw new TypeError(`ccf.crypto.${name} is not a function`);
        return fn(...args);
      },
      // ccf.historical.getStateRange: each transaction's own writes in [start, end], or null while a
      // signature does not yet cover them all. Bad arguments as CCF's js_historical_get_state_range.
      __h_range: (_handle: number, start: number, end: number) => {
        // dropCachedStates (prelude) asks for (handle, 0, -1): states are cached by seqno, not by handle.
        if (start === 0 && end === -1) return [];
        if (_handle < 0 || start < 0 || end < 0) throw new RangeError('Invalid handle or seqno or expiry: cannot be negative');
        if (end < start) throw new Error(`Failed to get state range: Invalid range for historical query: end ${end} is before start ${start}`);
        if (end - start + 1 > MAX_RANGE) throw new Error(`Failed to get state range: a range holds at most ${MAX_RANGE} transactions in Tessera (CCF's samples page at 2001 and 10001)`);
        // Seqno 0 never exists, and a seqno past the last signature is not yet verifiable: CCF keeps fetching (null).
        if (start < 1 || end > ledger.lastSigned()) return null;
        return Array.from({ length: end - start + 1 }, (_, i) => {
          const id = txIdOf(start + i);
          return { seqno: start + i, transactionId: id, receipt: { ...ledger.receipt(id), is_signature_transaction: false } };
        });
      },
      __h_rangeKv: (() => {
        const hosts = new Map<number, ReturnType<typeof historicalKvHost>>();
        return (seqno: number, table: string, method: string, a?: ArrayBuffer | null, b?: ArrayBuffer | null) => {
          let host = hosts.get(seqno);
          if (!host) hosts.set(seqno, (host = historicalKvHost((t) => this.opts.history(t, seqno), seqno)));
          return host(table, method, a, b);
        };
      })(),
      __h_consensus: (kind: string, a?: number, b?: number) => {
        const last = ledger.lastCommitted();
        if (kind === 'last') return { view: VIEW, seqno: last };
        if (kind === 'view') return a !== undefined && a >= 1 && a <= last ? VIEW : null;
        return ledger.status(`${a}.${b}`);
      },
    };
  }

  private details(message: string, trace = '') {
    if (this.runtime.logExceptionDetails) this.opts.logger.info({ tag: 'js', trace }, message);
    return this.runtime.returnExceptionDetails ? [{ code: 'JSException', message, trace }] : undefined;
  }

  /**
   * A limit or a failure outside the handler's own try (module load, the engine), as the error CCF answers
   * with: its words, not the engine's, with the engine's in `details` only if the runtime options say so.
   */
  private engineFailure(err: TesseraError): TesseraError {
    if (!(err instanceof TesseraError)) return err;
    if (err.code === 'timeout') return new TesseraError('app_failed', 'Operation took too long to complete.', { cause: err, details: this.details(err.message) });
    if (err.code === 'too_large') return new TesseraError('app_failed', 'Exception thrown while executing.', { cause: err, details: this.details('InternalError: out of memory') });
    if (/overflowed its stack/.test(err.message)) return new TesseraError('app_failed', 'Exception thrown while executing.', { cause: err, details: this.details('InternalError: stack overflow') });
    // Busy (a full queue, the memory budget): the caller may retry, after a second unless the error says when.
    if (err.code === 'unavailable') return err.retryAfterSeconds !== undefined ? err : new TesseraError('unavailable', err.message, { cause: err, retryAfterSeconds: 1 });
    if (err.code === 'not_found' || err instanceof ModuleLoadError) return new TesseraError('app_failed', err.message, { cause: err });
    return new TesseraError('app_failed', 'Exception thrown while executing.', { cause: err, details: this.details(err.message) });
  }

  /** The handler ran but did not give a response CCF can send: CCF's 500 for each way. */
  private handlerFailure(r: DispatchResult, info: EndpointInfo): TesseraError {
    switch (r.failure) {
      case 'no_export':
        return new TesseraError('app_failed', `Failed to find export '${info.js_function}' in module '${info.js_module}'`);
      case 'exception':
        this.opts.logger.info({ tag: 'js', err: r.message }, 'JS exception');
        return new TesseraError('app_failed', 'Exception thrown while executing.', { details: this.details(r.message!, r.trace) });
      case 'not_object':
        return new TesseraError('app_failed', 'Invalid endpoint function return value (not an object).');
      case 'status_type':
        return new TesseraError('app_failed', 'Invalid endpoint function return value (status code type).');
      default:
        return new TesseraError('app_failed', 'Invalid endpoint function return value (error during JSON conversion of body).');
    }
  }
}

/** A request's host functions, each refusing once `revoke` is called: the request they belong to has finished. */
export function bindToRequest<H extends Record<string, (...args: any[]) => unknown>>(functions: H): { host: H; revoke(): void } {
  let running = true;
  const host = {} as Record<string, (...args: any[]) => unknown>;
  for (const [name, fn] of Object.entries(functions)) {
    host[name] = (...args: unknown[]) => {
      if (!running) throw new Error('the request that made this call has finished: its transaction is closed');
      return fn(...args);
    };
  }
  return { host: host as H, revoke: () => void (running = false) };
}

/**
 * The most transactions one getStateRange call returns. CCF has no limit of its own (its apps page:
 * the JS logging sample asks for 2001 states at a time, the C++ one for 10001); this one keeps a single
 * call from making the node build receipts without end, and lets both samples run.
 */
const MAX_RANGE = 10_001;

export const DEFAULT_APP_RUNTIME: AppRuntimeOptions = { maxExecutionMs: 5000, maxHeapMiB: 100, returnExceptionDetails: false, maxAttempts: 30 };
