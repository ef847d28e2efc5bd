import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { KeyConfigJson } from './file-crypto.js';

export type TaskStatus = 'Created' | 'Ready' | 'Running' | 'Finished' | 'Failed';

export interface TaskInfo {
  user_id: string;
  function_name: string;
  function_type: 'Single' | 'Multiparty';
  status: TaskStatus;
  ip: string;
  port: number;
  task_token: string;
  collaborator_list: Array<{ user_id: string; approved: boolean }>;
  task_result_file_id: string | null;
  user_private_result_file_id: string[];
  /**
   * Over REST, for a registered function: the hash collaborators approve, covering its code, interface
   * (payload, arguments, inputs, outputs with each `for` and `owner_of`), kind, type, entry and limits.
   * Null for built-ins; absent over MesaTEE's wire API, whose task_info has no such field.
   */
  function_hash?: string | null;
}

/** What `function_hash` covers, in one line, for whoever shows it to a collaborator. */
export const FUNCTION_HASH_COVERS =
  "the function's code, kind, type, entry, limits and whole interface: payload, arguments, inputs, and outputs with who receives each (for, owner_of); not its name or description";

/** A registered (js, wasm or python) task function as `GET /v1/functions/{id}` gives it. */
export interface RegisteredFunctionInfo {
  id: string;
  name: string;
  owner: string;
  kind: 'js' | 'wasm' | 'python';
  type: 'Single' | 'Multiparty';
  description?: string;
  code_hash: string;
  function_hash: string;
  interface: {
    payload: string;
    arguments: Array<{ name: string; required?: boolean }>;
    inputs: Array<{ name: string; variadic?: boolean; optional?: boolean }>;
    outputs: Array<{ name: string; for?: 'creator' | 'file_owner' | 'all_participants'; owner_of?: string }>;
  };
  entry?: { module?: string; export?: string };
  limits?: { cpuMs?: number; heapMiB?: number; memoryPages?: number };
}

export interface FileInfo {
  user_id: string;
  file_name: string;
  sha256: string;
  file_size: number;
  access_path: string;
  task_id: string | null;
  collaborator_list: string[];
  key_config: KeyConfigJson;
}

export interface CreatedFile {
  file_id: string;
  access_path: string;
  key_config: KeyConfigJson;
}

/** How the SDK reaches a node: the REST API, or MesaTEE's wire listeners. Both speak the same documented shapes. */
export interface Backend {
  createTask(functionName: string, collaborators: string[], files: string[]): Promise<{ task_id: string; task_token: string }>;
  getTask(taskId: string): Promise<TaskInfo>;
  listTasks(): Promise<string[]>;
  /** With `functionHash`, the node records the approval only if the task's function has that function_hash. */
  approveTask(taskId: string, files: string[], functionHash?: string): Promise<{ status: TaskStatus }>;
  invokeTask(taskId: string, taskToken: string, payload: string | null): Promise<string>;
  createFile(fileName: string, sha256: string, fileSize: number): Promise<CreatedFile>;
  getFile(fileId: string): Promise<FileInfo>;
  listFiles(): Promise<string[]>;
  deleteFile(fileId: string): Promise<FileInfo>;
  /** File content always moves over HTTPS, at the file's access_path. */
  upload(accessPath: string, body: Readable, length: number): Promise<unknown>;
  download(accessPath: string): Promise<IncomingMessage>;
  /** One raw HTTPS exchange (Fn's /invoke): the answer whatever its status. */
  exchange(method: string, path: string, body: Buffer, headers: Record<string, string>): Promise<Exchange>;
  /** Other REST resources (workflows); only over REST. */
  rest<T>(method: string, path: string, body?: unknown): Promise<T>;
  close(): void;
}

export interface Exchange {
  status: number;
  /** Multi-valued headers, names lower-cased, one entry per header line. */
  headers: Record<string, string[]>;
  body: Buffer;
}
