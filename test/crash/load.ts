// The mixed load the crash suite puts on a node: uploads, multi-party tasks, CCF app KV writes and
// workflow syncs, each remembering exactly which of its writes the node acknowledged.
import { randomBytes, randomInt } from 'node:crypto';
import type { TestNode } from '../helpers/cli.js';
import { type WireKeyConfig, encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';

export interface FileWrite {
  plaintext: Buffer;
  config: WireKeyConfig;
  cycle: number;
}

/** What the node acknowledged, and what was attempted without an answer. */
export interface Ledger {
  files: Map<string, FileWrite>;
  unansweredFiles: Map<string, FileWrite>;
  kv: Map<string, { value: string; cycle: number }>;
  tasks: Map<string, { approved: boolean; cycle: number }>;
  /** The highest count a workflow bump was answered with. */
  counter: number;
}

export const emptyLedger = (): Ledger => ({ files: new Map(), unansweredFiles: new Map(), kv: new Map(), tasks: new Map(), counter: 0 });

export const api = (node: TestNode, user: string) => {
  const id = { ...node.identity(user), ca: node.ca };
  const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;
  return {
    get: (path: string) => https(url(path), id),
    post: (path: string, json: unknown) => https(url(path), id, { method: 'POST', json }),
    put: (path: string, body: Buffer) => https(url(path), id, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } }),
    raw: (absolute: string) => https(absolute, id),
    putRaw: (absolute: string, body: Buffer) => https(absolute, id, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } }),
    ingress: (path: string, body: string) => https(url(`/ingress${path}`), id, { method: 'POST', body: Buffer.from(body) }),
  };
};

/** Runs every kind of writer until `stopped()`; each ignores failures, which are the crash. */
export async function mixedLoad(node: TestNode, ledger: Ledger, opts: { cycle: number; aliceFile: string; stopped: () => boolean }): Promise<number> {
  const { cycle, aliceFile, stopped } = opts;
  const alice = api(node, 'alice');
  const bob = api(node, 'bob');
  let attempts = 0;
  const loop = async (step: (i: number) => Promise<void>) => {
    for (let i = 0; !stopped(); i++) {
      attempts++;
      await step(i).catch(() => undefined);
    }
  };
  const upload = async (who: ReturnType<typeof api>) => {
    const plaintext = randomBytes(randomInt(1, 48 * 1024));
    const created = await who.post('/v1/files', { file_name: 'crash.bin', sha256: sha256(plaintext), file_size: plaintext.length });
    if (created.status !== 201) return null;
    const { file_id, access_path, key_config } = created.json();
    const write = { plaintext, config: key_config, cycle };
    ledger.unansweredFiles.set(file_id, write);
    const put = await who.putRaw(access_path, encryptForUpload(key_config, plaintext));
    if (put.status === 200) {
      ledger.unansweredFiles.delete(file_id);
      ledger.files.set(file_id, write);
      return file_id as string;
    }
    return null;
  };
  await Promise.all([
    loop(async () => void (await upload(alice))),
    loop(async () => {
      const bobFile = await upload(bob);
      const created = await alice.post('/v1/tasks', { function_name: 'psi', collaborator_list: ['bob'], files: [aliceFile] });
      if (created.status !== 201 || !bobFile) return;
      const taskId = created.json().task_id as string;
      ledger.tasks.set(taskId, { approved: false, cycle });
      const approved = await bob.post(`/v1/tasks/${taskId}/approve`, { files: [bobFile] });
      if (approved.status === 200) ledger.tasks.set(taskId, { approved: true, cycle });
    }),
    loop(async (i) => {
      const key = `c${cycle}-${i}`;
      const value = randomBytes(8).toString('hex');
      const put = await alice.put(`/app/kv/${key}`, Buffer.from(value));
      if (put.status === 204) ledger.kv.set(key, { value, cycle });
    }),
    loop(async () => {
      const bump = await alice.ingress('/bump', 'x');
      if (bump.status === 200) ledger.counter = Math.max(ledger.counter, Number(bump.body.toString()));
    }),
  ]);
  return attempts;
}
