import type { Readable } from 'node:stream';
import { connect, type TLSSocket } from 'node:tls';
import { TesseraError } from '../errors/index.js';
import type { Backend, CreatedFile, FileInfo, TaskInfo, TaskStatus } from './backend.js';
import { ApiError, type Transport } from './transport.js';
import type { NodeVerifier } from './verification.js';

export interface WireAddresses {
  /** TMS external, "host:port" (MesaTEE 5554). */
  tms: string;
  /** TDFS external, "host:port" (MesaTEE 5065). */
  tdfs: string;
  /** FNS, "host:port"; by default the address task replies name. */
  fns?: string;
}

const KIND_STATUS: Record<string, number> = { PermissionDenied: 403, MissingValue: 404, InvalidInputError: 400, ParseError: 400, FunctionNotSupportedError: 404, MsgSizeLimitExceedError: 413 };

/** One mutually authenticated wire connection: 8-byte big-endian length + JSON frames, one round at a time. */
class WireConnection {
  private socket: Promise<TLSSocket> | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly address: string,
    private readonly tls: { ca: string; cert: string; key: string; verifier: NodeVerifier },
  ) {}

  private open(): Promise<TLSSocket> {
    const [host, port] = [this.address.slice(0, this.address.lastIndexOf(':')), Number(this.address.slice(this.address.lastIndexOf(':') + 1))];
    return new Promise((resolve, reject) => {
      const socket = connect(
        { host, port, ca: this.tls.ca, cert: this.tls.cert, key: this.tls.key, servername: /^[\d.]+$/.test(host) ? 'localhost' : host, checkServerIdentity: this.tls.verifier.checkServerIdentity },
        () => resolve(socket),
      );
      socket.once('error', reject);
      socket.once('close', () => (this.socket = null));
    });
  }

  request<T>(message: object): Promise<T> {
    const run = async (): Promise<T> => {
      this.socket ??= this.open();
      const socket = await this.socket;
      const body = Buffer.from(JSON.stringify(message));
      const header = Buffer.alloc(8);
      header.writeBigUInt64BE(BigInt(body.length));
      socket.write(Buffer.concat([header, body]));
      const reply = await readFrame(socket);
      const parsed = JSON.parse(reply.toString('utf8')) as { type?: string; kind?: string; message?: string };
      if (parsed.type === 'Error') throw new ApiError(KIND_STATUS[parsed.kind!] ?? 500, parsed.kind!, parsed.message!);
      return parsed as T;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }

  close() {
    void this.socket?.then((s) => s.end()).catch(() => {});
  }
}

function readFrame(socket: TLSSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length >= 8) {
        const len = Number(buffer.readBigUInt64BE(0));
        if (buffer.length >= 8 + len) {
          cleanup();
          if (buffer.length > 8 + len) socket.unshift(buffer.subarray(8 + len));
          resolve(buffer.subarray(8, 8 + len));
        }
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new TesseraError('unavailable', 'the node closed the wire connection'));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
  });
}

/** The SDK over MesaTEE's TMS, FNS and TDFS listeners; file content still moves over HTTPS at access_path. */
export class WireBackend implements Backend {
  private readonly tms: WireConnection;
  private readonly tdfs: WireConnection;
  private readonly fns = new Map<string, WireConnection>();
  private readonly creds: { user_id: string; user_token: string };

  constructor(
    private readonly addresses: WireAddresses,
    private readonly tls: { ca: string; cert: string; key: string; verifier: NodeVerifier },
    credentials: { userId: string; token: string },
    private readonly content: Transport,
  ) {
    this.tms = new WireConnection(addresses.tms, tls);
    this.tdfs = new WireConnection(addresses.tdfs, tls);
    this.creds = { user_id: credentials.userId, user_token: credentials.token };
  }

  private fnsFor(task: { ip: string; port: number }): WireConnection {
    const address = this.addresses.fns ?? `${task.ip}:${task.port}`;
    let c = this.fns.get(address);
    if (!c) this.fns.set(address, (c = new WireConnection(address, this.tls)));
    return c;
  }

  async createTask(functionName: string, collaborators: string[], files: string[]) {
    return this.tms.request<{ task_id: string; task_token: string }>({ type: 'Create', function_name: functionName, collaborator_list: collaborators, files, ...this.creds });
  }
  async getTask(taskId: string) {
    return (await this.tms.request<{ task_info: TaskInfo }>({ type: 'Get', task_id: taskId, ...this.creds })).task_info;
  }
  async listTasks() {
    return (await this.tms.request<{ list: string[] }>({ type: 'List', ...this.creds })).list;
  }
  async approveTask(taskId: string, files: string[], functionHash?: string) {
    // MesaTEE's TMS Update has no place for it, and its task info shows no function_hash to compare with.
    if (functionHash !== undefined) throw new TesseraError('invalid_input', "the wire API cannot approve against a function_hash (MesaTEE's Update carries none); connect over REST to have the node check it");
    const r = await this.tms.request<{ status: TaskStatus }>({ type: 'Update', task_id: taskId, files, ...this.creds });
    return { status: r.status };
  }
  async invokeTask(taskId: string, taskToken: string, payload: string | null) {
    const task = await this.getTask(taskId);
    const r = await this.fnsFor(task).request<{ result: string }>({ task_id: taskId, function_name: task.function_name, task_token: taskToken, payload });
    return r.result;
  }
  async createFile(fileName: string, sha256: string, fileSize: number) {
    const r = await this.tdfs.request<CreatedFile>({ type: 'Create', file_name: fileName, sha256, file_size: fileSize, ...this.creds });
    return { file_id: r.file_id, access_path: r.access_path, key_config: r.key_config };
  }
  async getFile(fileId: string) {
    return (await this.tdfs.request<{ file_info: FileInfo }>({ type: 'Get', file_id: fileId, ...this.creds })).file_info;
  }
  async listFiles() {
    return (await this.tdfs.request<{ list: string[] }>({ type: 'List', ...this.creds })).list;
  }
  async deleteFile(fileId: string) {
    return (await this.tdfs.request<{ file_info: FileInfo }>({ type: 'Delete', file_id: fileId, ...this.creds })).file_info;
  }
  upload(accessPath: string, body: Readable, length: number) {
    return this.content.upload(accessPath, body, length);
  }
  exchange(method: string, path: string, body: Buffer, headers: Record<string, string>) {
    return this.content.exchange(method, path, body, headers);
  }
  download(accessPath: string) {
    return this.content.download(accessPath);
  }
  rest<T>(): Promise<T> {
    return Promise.reject(new TesseraError('invalid_input', 'workflows are managed over REST: connect with url, not wire addresses'));
  }
  close() {
    this.tms.close();
    this.tdfs.close();
    for (const c of this.fns.values()) c.close();
    this.content.close();
  }
}
