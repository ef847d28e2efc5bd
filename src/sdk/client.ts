import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connect as tlsConnect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { NodeVerification } from '../attestation/verify.js';
import { TesseraError } from '../errors/index.js';
import { packDirectory } from '../packaging/package.js';
import type { Backend, FileInfo, RegisteredFunctionInfo, TaskInfo, TaskStatus } from './backend.js';
import { counter, decryptStream, encryptStream } from './file-crypto.js';
import { RestBackend } from './rest-backend.js';
import { Transport } from './transport.js';
import { type WireAddresses, WireBackend } from './wire-backend.js';

export type { FileInfo, RegisteredFunctionInfo, TaskInfo, TaskStatus } from './backend.js';
export { FUNCTION_HASH_COVERS } from './backend.js';
import { NodeVerifier, type VerificationOptions } from './verification.js';

export interface ConnectOptions extends VerificationOptions {
  /** The node's HTTPS address, e.g. https://127.0.0.1:8000. Give this or `wire`. */
  url?: string;
  /** MesaTEE's wire listeners instead of REST, e.g. { tms: '127.0.0.1:5554', tdfs: '127.0.0.1:5065' }. */
  wire?: WireAddresses;
  /** The node CA certificate (PEM), which the node's certificate must chain to. */
  ca: string;
  /** The user's certificate and key (PEM). */
  cert: string;
  key: string;
  userId: string;
  token: string;
  /** Where warnings go (default: console.warn). */
  warn?: (message: string) => void;
}

export interface Progress {
  onProgress?: (done: number, total: number) => void;
}

/** A task the SDK created or looked up: MesaTEE's MesateeTask. */
export class Task {
  constructor(
    private readonly client: Tessera,
    readonly taskId: string,
    readonly taskToken: string,
  ) {}

  /** Runs the task (once; any participant may, when it is Ready) and returns its result string. */
  async invoke(payload?: string): Promise<string> {
    return this.client.invokeTask(this.taskId, this.taskToken, payload);
  }
}

/**
 * The Tessera SDK: MesaTEE's Mesatee API in TypeScript. `connect` verifies the auditors and the node
 * before anything is sent, and every later connection to the node is checked the same way.
 */
/** Packs a function directory into its canonical package, without a node: what `--pack-only` prints. */
export { packDirectory as packFunctionDirectory };

/** What `registerFunction` sends: the body of POST /v1/functions (docs/sandbox.md, "Registered task functions"). */
export interface FunctionRegistration {
  name: string;
  kind: 'js' | 'wasm' | 'python';
  type: 'Single' | 'Multiparty';
  description?: string;
  modules?: Record<string, string>;
  wasm?: string;
  python?: string;
  entry?: { module?: string; export?: string };
  interface: { payload: string; arguments: unknown[]; inputs: unknown[]; outputs: unknown[] };
  limits?: { cpuMs?: number; heapMiB?: number; memoryPages?: number };
}

/** One row of GET /v1/functions: a built-in (no owner) or a registered function (named by its id). */
export interface TaskFunctionSummary {
  name: string;
  kind: string;
  type: string;
  description?: string;
  interface?: unknown;
  owner?: string;
  code_hash?: string;
  function_hash?: string;
}

export interface FnPackage {
  digest: string;
  name: string;
  size: number;
}

export interface FnSummary {
  id: string;
  owner: string;
  app: string;
  name: string;
  version: number;
  package: string;
  runtime: string | null;
  memory: number;
  triggers: Array<{ name: string; source: string }>;
}

export class Tessera {
  private constructor(
    private readonly backend: Backend,
    readonly userId: string,
    /** What was verified about the node (null with insecureSkipVerification). */
    readonly node: NodeVerification | null,
  ) {}

  static async connect(opts: ConnectOptions): Promise<Tessera> {
    const verifier = new NodeVerifier(opts);
    const warn = opts.warn ?? ((m: string) => console.warn(m));
    if (verifier.skipping) warn('tessera: WARNING: insecureSkipVerification is set: the node is not verified, and nothing it runs or claims is proven');
    const cn = /CN=([^,\n]+)/.exec(new X509Certificate(opts.cert).subject.replaceAll('\n', ','))?.[1];
    if (cn !== opts.userId) throw new TesseraError('invalid_input', `the certificate is ${cn ?? 'nobody'}'s, not ${opts.userId}'s: pass the identity that belongs to userId`);
    if (!opts.url === !opts.wire) throw new TesseraError('invalid_input', 'give the node as url (REST) or as wire addresses, one of the two');
    const first = opts.url ? new URL(opts.url) : new URL(`https://${opts.wire!.tms}`);
    const node = await Tessera.handshake(opts, first, verifier);
    if (node && !node.hardware) warn(`tessera: ${node.description}`);
    const content = new Transport({ ...opts, url: first.origin, verifier });
    const backend = opts.wire
      ? new WireBackend(opts.wire, { ca: opts.ca, cert: opts.cert, key: opts.key, verifier }, opts, content)
      : new RestBackend(content);
    return new Tessera(backend, opts.userId, node);
  }

  /** One TLS handshake, to check the node before any request carries data or credentials. */
  private static handshake(opts: ConnectOptions, url: URL, verifier: NodeVerifier): Promise<NodeVerification | null> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: url.hostname, port: Number(url.port || 443), ca: opts.ca, cert: opts.cert, key: opts.key, servername: url.hostname === '127.0.0.1' ? 'localhost' : url.hostname }, () => {
        const cert = socket.getPeerCertificate();
        socket.end();
        try {
          resolve(verifier.check(cert.raw, cert.fingerprint256));
        } catch (err) {
          reject(err);
        }
      });
      socket.on('error', (err: Error & { code?: string }) => {
        // A certificate outside its validity period is a clock problem, on this machine or the node's, not a wrong CA.
        if (err.code === 'CERT_NOT_YET_VALID' || err.code === 'CERT_HAS_EXPIRED') {
          reject(new TesseraError('permission_denied', `the node's certificate is ${err.code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not valid yet'} by this machine's clock (${err.code}): check that this machine's clock and the node's agree within five minutes`));
        } else if (/CERT|SIGNATURE|ISSUER|self.signed/i.test(err.code ?? err.message)) {
          reject(new TesseraError('permission_denied', `the node's certificate is not issued by the CA you trust (${err.code ?? err.message}): check the ca you passed, and that this is the right node`));
        } else reject(new TesseraError('unavailable', `cannot reach the node at ${url.host}: ${err.message}`, { cause: err }));
      });
    });
  }

  close() {
    this.backend.close();
  }

  // Tasks

  /** A single-party task with no input files. */
  createTask(functionName: string): Promise<Task> {
    return this.createTaskWithCollaborators(functionName, [], []);
  }

  /** A task over your own files. */
  createTaskWithFiles(functionName: string, files: string[]): Promise<Task> {
    return this.createTaskWithCollaborators(functionName, [], files);
  }

  /** A multi-party task: it waits for each collaborator to approve with their files. */
  async createTaskWithCollaborators(functionName: string, collaborators: string[], files: string[]): Promise<Task> {
    const r = await this.backend.createTask(functionName, collaborators, files);
    return new Task(this, r.task_id, r.task_token);
  }

  getTask(taskId: string): Promise<TaskInfo> {
    return this.backend.getTask(taskId);
  }

  /** A Task handle for a task you take part in, ready to invoke. */
  async task(taskId: string): Promise<Task> {
    return new Task(this, taskId, (await this.getTask(taskId)).task_token);
  }

  /** Your result files: your private ones, then the shared one (MesaTEE's get_task_results). */
  async getTaskResults(taskId: string): Promise<string[]> {
    const t = await this.getTask(taskId);
    return [...t.user_private_result_file_id, ...(t.task_result_file_id ? [t.task_result_file_id] : [])];
  }

  /** A registered (js or wasm) task function, with its interface and function_hash; over REST only. */
  getRegisteredFunction(id: string): Promise<RegisteredFunctionInfo> {
    return this.backend.rest('GET', `/v1/functions/${encodeURIComponent(id)}`);
  }

  /** Registers a js, wasm or python task function (POST /v1/functions): its id is the SHA-256 of the whole registration. */
  registerFunction(spec: FunctionRegistration): Promise<{ function_id: string; code_hash: string; function_hash: string; name: string }> {
    return this.backend.rest('POST', '/v1/functions', spec);
  }

  /** The functions tasks can run: the built-ins, then the registered ones (named by id); over REST only. */
  async listTaskFunctions(): Promise<TaskFunctionSummary[]> {
    return (await this.backend.rest<{ functions: TaskFunctionSummary[] }>('GET', '/v1/functions')).functions;
  }

  /**
   * Approve a task as a collaborator, contributing your files. With `functionHash` (the function_hash you
   * reviewed) the node records the approval only if the task's function still has it (409 otherwise).
   */
  approveTaskWithFiles(taskId: string, files: string[], opts: { functionHash?: string } = {}): Promise<{ status: TaskStatus }> {
    return this.backend.approveTask(taskId, files, opts.functionHash?.trim().toLowerCase());
  }

  listTasks(): Promise<string[]> {
    return this.backend.listTasks();
  }

  /** @internal Task.invoke */
  invokeTask(taskId: string, taskToken: string, payload?: string): Promise<string> {
    return this.backend.invokeTask(taskId, taskToken, payload ?? null);
  }

  // Files

  /**
   * Encrypts locally and uploads. A path streams (any size, bounded memory, read twice: once to hash,
   * once to encrypt); a Buffer or a stream is held in memory.
   */
  async uploadFile(input: string | Buffer | Readable, opts: Progress & { fileName?: string } = {}): Promise<string> {
    let size: number;
    let sha256: string;
    let source: () => Readable;
    let fileName = opts.fileName;
    if (typeof input === 'string') {
      size = statSync(input).size;
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(input)) hash.update(chunk as Buffer);
      sha256 = hash.digest('hex');
      source = () => createReadStream(input);
      fileName ??= basename(input);
    } else {
      const data = Buffer.isBuffer(input) ? input : Buffer.concat(await input.toArray());
      size = data.length;
      sha256 = createHash('sha256').update(data).digest('hex');
      source = () => Readable.from([data]);
    }
    const created = await this.backend.createFile(fileName ?? 'upload', sha256, size);
    let sent = 0;
    const progress = counter((n) => {
      sent += n;
      opts.onProgress?.(sent, size);
    });
    const body = source().pipe(progress).pipe(encryptStream(created.key_config));
    await this.backend.upload(created.access_path, body, size + 16);
    return created.file_id;
  }

  getFile(fileId: string): Promise<FileInfo> {
    return this.backend.getFile(fileId);
  }

  /** Downloads and decrypts to `path` (through a temporary file: nothing is left at `path` unless the tag verifies). */
  async downloadFile(fileId: string, path: string, opts: Progress = {}): Promise<string> {
    const info = await this.getFile(fileId);
    const res = await this.backend.download(info.access_path);
    // Progress counts plaintext bytes, as the user knows the file (the ciphertext carries a 16-byte tag more).
    const total = info.file_size;
    let got = 0;
    const temp = `${path}.part-${process.pid}`;
    try {
      await pipeline(res, decryptStream(info.key_config), counter((n) => opts.onProgress?.((got += n), total)), createWriteStream(temp, { mode: 0o600 }));
      await rename(temp, path);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return path;
  }

  /** Downloads and decrypts into memory. */
  async readFile(fileId: string): Promise<Buffer> {
    const info = await this.getFile(fileId);
    const res = await this.backend.download(info.access_path);
    const chunks: Buffer[] = [];
    await pipeline(res, decryptStream(info.key_config), async function* (source) {
      for await (const c of source) chunks.push(c as Buffer);
    });
    return Buffer.concat(chunks);
  }

  listFiles(): Promise<string[]> {
    return this.backend.listFiles();
  }

  deleteFile(fileId: string): Promise<FileInfo> {
    return this.backend.deleteFile(fileId);
  }

  // Process functions (Fn)

  /**
   * Packs a function directory into its canonical package (sorted paths, modes, contents) on this
   * machine: the same directory always gives the same digest, which is what a proposal names.
   */
  packFunction(dir: string): Promise<{ bytes: Buffer; digest: string; files: number }> {
    return packDirectory(dir);
  }

  /** Uploads a package; the node checks it and keeps it sealed under its digest. */
  async uploadPackage(bytes: Buffer, opts: Progress = {}): Promise<FnPackage> {
    let sent = 0;
    const progress = counter((n) => opts.onProgress?.((sent += n), bytes.length));
    return (await this.backend.upload('/v1/fn/packages', Readable.from([bytes]).pipe(progress), bytes.length)) as FnPackage;
  }

  /** Deploys an uploaded package as one of your own functions (where the node allows direct deploys). */
  deployFunction(digest: string, app: string): Promise<{ id: string; app: string; name: string; version: number; package: string }> {
    return this.backend.rest('POST', '/v1/fns', { package: digest, app });
  }

  /** Packs, uploads and deploys a function directory. */
  async deployFunctionDir(dir: string, app: string, opts: Progress = {}): Promise<{ id: string; app: string; name: string; version: number; package: string }> {
    const { bytes } = await this.packFunction(dir);
    const uploaded = await this.uploadPackage(bytes, opts);
    return this.deployFunction(uploaded.digest, app);
  }

  removeFunction(id: string): Promise<{ id: string; removed: boolean }> {
    return this.backend.rest('DELETE', `/v1/fns/${encodeURIComponent(id)}`);
  }

  listFunctions(): Promise<{ fns: FnSummary[]; confinement: { mode: string; limits: string; warning: string | null } }> {
    return this.backend.rest('GET', '/v1/fns');
  }

  /** Calls a function as Fn's /invoke does: the answer's status, headers and body, whatever the status. */
  invokeFunction(id: string, body: Buffer, opts: { contentType?: string; detached?: boolean } = {}) {
    return this.backend.exchange('POST', `/invoke/${encodeURIComponent(id)}`, body, {
      'content-type': opts.contentType ?? 'text/plain',
      ...(opts.detached ? { 'fn-invoke-type': 'detached' } : {}),
    });
  }

  // Workflows (EDGELESS JSON; code inline as base64 in class_specification.binary)

  startWorkflow(spec: unknown, name?: string): Promise<{ workflow_id: string; name: string }> {
    return this.backend.rest('POST', '/v1/workflows', { spec, ...(name ? { name } : {}) });
  }

  stopWorkflow(id: string): Promise<{ workflow_id: string; name: string; stopped: boolean }> {
    return this.backend.rest('DELETE', `/v1/workflows/${encodeURIComponent(id)}`);
  }

  async listWorkflows(): Promise<Array<{ workflow_id: string; name: string; owner: string; started_at: string }>> {
    return (await this.backend.rest<{ workflows: Array<{ workflow_id: string; name: string; owner: string; started_at: string }> }>('GET', '/v1/workflows')).workflows;
  }

  inspectWorkflow(id: string): Promise<unknown> {
    return this.backend.rest('GET', `/v1/workflows/${encodeURIComponent(id)}`);
  }

  /** The lines a file-log resource of your workflow `name` wrote to `file`, opened (the node keeps them sealed). */
  async readWorkflowFile(name: string, file: string): Promise<string> {
    const path = file.split('/').map(encodeURIComponent).join('/');
    return (await this.backend.rest<{ content: string }>('GET', `/v1/workflow-files/${encodeURIComponent(name)}/${path}`)).content;
  }
}
