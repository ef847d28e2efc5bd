import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type TestNode, serveDataDir, tempDir, tessera, useEphemeralPorts } from './cli.js';
import { type WireKeyConfig, decryptDownload, encryptForUpload, sha256 } from './files.js';
import { https } from './https-client.js';
import { type NatsServer, startNats } from './nats-server.js';
import { type PostgresServer, startPostgres } from './postgres.js';

// A cluster for tests and benchmarks: a real PostgreSQL and NATS, a first node made with `init --set`, the
// others with `cluster add-node`, every node served on ephemeral ports; and the REST calls they make of it.

export interface TestCluster {
  pg: PostgresServer;
  nats: NatsServer;
  root: string;
  nodes: TestNode[];
  cleanup(): Promise<void>;
}

/**
 * `config` patches every node's tessera.toml; `nodeConfig` and `nodeEnv` patch node n's (1-based) alone,
 * e.g. its nats.url through a proxy, or a skewed clock in its environment.
 */
export async function startCluster(opts: {
  nodes: number;
  users: string[];
  members?: string[];
  settings?: string[];
  config?: (c: Record<string, any>) => void;
  nodeConfig?: (n: number, c: Record<string, any>, engines: { pg: PostgresServer; nats: NatsServer }) => void;
  nodeEnv?: (n: number) => Record<string, string> | undefined;
}): Promise<TestCluster> {
  const pg = await startPostgres();
  const nats = await startNats();
  const root = tempDir('tessera-cluster-');
  const nodes: TestNode[] = [];
  const cleanup = async () => {
    for (const node of nodes) await node.cleanup();
    await nats.stop();
    await pg.destroy();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const settings = ['store.backend=postgres', `store.url=${pg.url}`, 'files.blob_store=nats', `nats.url=${nats.url}`, ...(opts.settings ?? [])].flatMap((s) => ['--set', s]);
    const init = await tessera(['init', '--data', join(root, 'node1'), '--users', opts.users.join(','), '--members', (opts.members ?? []).join(','), ...settings]);
    assert.equal(init.code, 0, init.stderr);
    for (let n = 2; n <= opts.nodes; n++) {
      const added = await tessera(['cluster', 'add-node', '--from', join(root, 'node1'), '--data', join(root, `node${n}`)]);
      assert.equal(added.code, 0, added.stderr);
    }
    for (let n = 1; n <= opts.nodes; n++) {
      useEphemeralPorts(join(root, `node${n}`), (c) => {
        opts.config?.(c);
        opts.nodeConfig?.(n, c, { pg, nats });
      });
      nodes.push(await serveDataDir(join(root, `node${n}`), join(root, 'node1'), { env: opts.nodeEnv?.(n) }));
    }
    return { pg, nats, root, nodes, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export const as = (node: TestNode, user: string) => ({ ...node.identity(user), ca: node.ca });
export const url = (node: TestNode, path: string) => `https://127.0.0.1:${node.ports.https}${path}`;

/** Registers and uploads a file through `node`; null if either step is not answered with success. */
export async function upload(node: TestNode, user: string, plaintext: Buffer): Promise<{ id: string; config: WireKeyConfig } | null> {
  const created = await https(url(node, '/v1/files'), as(node, user), { method: 'POST', json: { file_name: 'f.bin', sha256: sha256(plaintext), file_size: plaintext.length } });
  if (created.status !== 201) return null;
  const { file_id, key_config } = created.json();
  const put = await https(url(node, `/v1/files/${file_id}/content`), as(node, user), { method: 'PUT', body: encryptForUpload(key_config, plaintext), headers: { 'content-type': 'application/octet-stream' } });
  return put.status === 200 ? { id: file_id, config: key_config } : null;
}

/** Downloads and decrypts a file through `node`, asserting each step. */
export async function download(node: TestNode, user: string, fileId: string): Promise<Buffer> {
  const info = await https(url(node, `/v1/files/${fileId}`), as(node, user));
  assert.equal(info.status, 200, info.body.toString());
  const blob = await https(url(node, `/v1/files/${fileId}/content`), as(node, user));
  assert.equal(blob.status, 200, blob.body.toString());
  return decryptDownload(info.json().key_config, blob.body);
}
