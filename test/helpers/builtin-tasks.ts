import assert from 'node:assert/strict';
import type { TestNode } from './cli.js';
import { decryptDownload, encryptForUpload, sha256 } from './files.js';
import { https } from './https-client.js';

/**
 * Built-ins driven through the REST API as their users drive them: upload files, run a task (alice creates it
 * with her files, each collaborator approves with theirs, alice invokes), read results back. `node` is called
 * lazily, since test files start their node in `before`.
 */
export function builtinTasks(node: () => TestNode) {
  const id = (user: string) => ({ ...node().identity(user), ca: node().ca });
  const url = (path: string) => `https://127.0.0.1:${node().ports.https}${path}`;

  async function upload(user: string, content: string | Buffer): Promise<string> {
    const plain = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const c = await https(url('/v1/files'), id(user), { method: 'POST', json: { file_name: 'in', sha256: sha256(plain), file_size: plain.length } });
    const { file_id, access_path, key_config } = c.json();
    const put = await https(access_path, id(user), { method: 'PUT', body: encryptForUpload(key_config, plain), headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 200, put.body.toString());
    return file_id;
  }

  async function download(user: string, fileId: string): Promise<Buffer> {
    const info = await https(url(`/v1/files/${fileId}`), id(user));
    assert.equal(info.status, 200, info.body.toString());
    return decryptDownload(info.json().key_config, (await https(info.json().access_path, id(user))).body);
  }

  /** Runs a task to its invoke; the invoke's status, result and error are the caller's to check. */
  async function run(fn: string, opts: { files?: string[]; collaborators?: Array<[string, string]>; payload?: string | null }) {
    const c = await https(url('/v1/tasks'), id('alice'), {
      method: 'POST',
      json: { function_name: fn, files: opts.files ?? [], collaborator_list: (opts.collaborators ?? []).map(([u]) => u) },
    });
    assert.equal(c.status, 201, c.body.toString());
    const { task_id, task_token } = c.json();
    for (const [user, file] of opts.collaborators ?? []) {
      const a = await https(url(`/v1/tasks/${task_id}/approve`), id(user), { method: 'POST', json: { files: [file] } });
      assert.equal(a.status, 200, a.body.toString());
    }
    const r = await https(url(`/v1/tasks/${task_id}/invoke`), id('alice'), { method: 'POST', json: { task_token, payload: opts.payload ?? null } });
    const view = (user = 'alice') => https(url(`/v1/tasks/${task_id}`), id(user)).then((v) => v.json());
    return { status: r.status, body: r.body.toString(), result: r.json().result as string, error: r.json().error as { code: string; message: string } | undefined, view };
  }

  return { id, url, upload, download, run };
}
