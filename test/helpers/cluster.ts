import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type TestNode, serveDataDir, tempDir, tessera, useEphemeralPorts } from './cli.js';
import { type WireKeyConfig, decryptDownload, encryptForUpload, sha256 } from './files.js';
import { https } from './https-client.js';
import { type NatsServer, startNats } from './nats-server.js';
import { type PostgresServer, startPostgres } from './postgres.js';
import { nodeIdOfPem } from '../../src/governance/nodes.js';
import { trustNode } from '../../src/node/cluster-trust.js';
import { memberClient } from '../../src/sdk/member.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

// A cluster for tests and benchmarks: a real PostgreSQL and NATS, a first node made with `init --set`, the
// others with `cluster add-node`, every node served on ephemeral ports; and the REST calls they make of it.

export interface TestCluster {
  pg: PostgresServer;
  nats: NatsServer;
  root: string;
  nodes: TestNode[];
  cleanup(): Promise<void>;
}

/** The members' clients towards `node`: how the helper trusts joining nodes through governance. */
export const memberClients = (node: TestNode, members: string[]) =>
  members.map((name) => {
    const base = join(identitiesDirOf(node.dir), name);
    return memberClient({ url: `https://127.0.0.1:${node.ports.https}`, cert: readFileSync(join(base, 'cert.pem'), 'utf8'), key: readFileSync(join(base, 'key.pem'), 'utf8'), ca: node.ca });
  });

/** A node's id (CCF's: the SHA-256 of its identity's public key), from its data directory. */
export const nodeIdOfDir = (dir: string) => nodeIdOfPem(readFileSync(join(dir, 'node', 'cert.pem'), 'utf8'));

/**
 * Every node after the first joins as a Pending node; the members (m0 when none are asked for) propose and vote
 * transition_node_to_trusted for it, as members of a real service would, so that it serves. `config` patches
 * every node's tessera.toml; `nodeConfig` and `nodeEnv` patch node n's (1-based) alone, e.g. its nats.url
 * through a proxy, or a skewed clock in its environment.
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
  const members = opts.members?.length ? opts.members : ['m0'];
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
    const init = await tessera(['init', '--data', join(root, 'node1'), '--users', opts.users.join(','), '--members', members.join(','), ...settings]);
    assert.equal(init.code, 0, init.stderr);
    for (let n = 2; n <= opts.nodes; n++) {
      const added = await tessera(['cluster', 'add-node', '--from', join(root, 'node1'), '--data', join(root, `node${n}`)]);
      assert.equal(added.code, 0, added.stderr);
    }
    for (let n = 1; n <= opts.nodes; n++) {
      const dir = join(root, `node${n}`);
      useEphemeralPorts(dir, (c) => {
        opts.config?.(c);
        opts.nodeConfig?.(n, c, { pg, nats });
      });
      const serving = serveDataDir(dir, join(root, 'node1'), { env: opts.nodeEnv?.(n) });
      // Not awaited first: a joining node is ready only once trusted. If trusting fails, it is ended below.
      serving.catch(() => {});
      if (n > 1) await trustNode({ members: memberClients(nodes[0], members), nodeId: nodeIdOfDir(dir) });
      nodes.push(await serving);
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
