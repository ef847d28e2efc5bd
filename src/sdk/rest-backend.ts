import type { Readable } from 'node:stream';
import type { Backend, CreatedFile, FileInfo, TaskInfo, TaskStatus } from './backend.js';
import type { Transport } from './transport.js';

const enc = encodeURIComponent;

/** The SDK over the REST API. */
export class RestBackend implements Backend {
  constructor(private readonly http: Transport) {}

  createTask(functionName: string, collaborators: string[], files: string[]) {
    return this.http.json<{ task_id: string; task_token: string }>('POST', '/v1/tasks', { function_name: functionName, collaborator_list: collaborators, files });
  }
  getTask(taskId: string) {
    return this.http.json<TaskInfo>('GET', `/v1/tasks/${enc(taskId)}`);
  }
  async listTasks() {
    return (await this.http.json<{ tasks: string[] }>('GET', '/v1/tasks')).tasks;
  }
  approveTask(taskId: string, files: string[], functionHash?: string) {
    return this.http.json<{ status: TaskStatus }>('POST', `/v1/tasks/${enc(taskId)}/approve`, { files, ...(functionHash === undefined ? {} : { function_hash: functionHash }) });
  }
  async invokeTask(taskId: string, taskToken: string, payload: string | null) {
    return (await this.http.json<{ result: string }>('POST', `/v1/tasks/${enc(taskId)}/invoke`, { task_token: taskToken, payload })).result;
  }
  createFile(fileName: string, sha256: string, fileSize: number) {
    return this.http.json<CreatedFile>('POST', '/v1/files', { file_name: fileName, sha256, file_size: fileSize });
  }
  getFile(fileId: string) {
    return this.http.json<FileInfo>('GET', `/v1/files/${enc(fileId)}`);
  }
  async listFiles() {
    return (await this.http.json<{ files: string[] }>('GET', '/v1/files')).files;
  }
  deleteFile(fileId: string) {
    return this.http.json<FileInfo>('DELETE', `/v1/files/${enc(fileId)}`);
  }
  upload(accessPath: string, body: Readable, length: number) {
    return this.http.upload(accessPath, body, length);
  }
  exchange(method: string, path: string, body: Buffer, headers: Record<string, string>) {
    return this.http.exchange(method, path, body, headers);
  }
  download(accessPath: string) {
    return this.http.download(accessPath);
  }
  rest<T>(method: string, path: string, body?: unknown) {
    return this.http.json<T>(method, path, body);
  }
  close() {
    this.http.close();
  }
}
