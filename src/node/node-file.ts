import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// DATA/node.json: where a running node listens, so that the CLI on the same machine finds it without
// being told a URL. Written once every listener is up, atomically (a temporary file renamed over it),
// 0600, and removed on a clean shutdown; a node that crashed leaves it behind, so a reader checks the
// pid before trusting it.

export interface NodeFileListener {
  host: string;
  port: number;
}

export interface NodeFile {
  /** The HTTPS URL to reach the node from this machine (a wildcard bind address becomes loopback). */
  url?: string;
  /** The node CA certificate (DATA/ca.pem), absolute. */
  ca: string;
  pid: number;
  version: string;
  started_at: string;
  data_dir: string;
  /** Every bound listener by name (`https` and the wire listeners), as bound. */
  listeners: Record<string, NodeFileListener>;
}

export const nodeFilePath = (dataDir: string) => join(resolve(dataDir), 'node.json');

/** The host a local client dials for a listener bound to `host`. */
export const dialHost = (host: string) => (host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host);

export function writeNodeFile(dataDir: string, info: Omit<NodeFile, 'url' | 'data_dir' | 'started_at'>): string {
  const path = nodeFilePath(dataDir);
  const https = info.listeners.https;
  const file: NodeFile = {
    url: https ? `https://${dialHost(https.host)}:${https.port}` : undefined,
    data_dir: resolve(dataDir),
    started_at: new Date().toISOString(),
    ...info,
  };
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
  return path;
}

/** Removes node.json if it is this process's (a second node on the same directory must not remove the first's). */
export function removeNodeFile(dataDir: string, pid = process.pid) {
  const found = readNodeFileRaw(dataDir);
  if (found && found.pid === pid) rmSync(nodeFilePath(dataDir), { force: true });
}

function readNodeFileRaw(dataDir: string): NodeFile | undefined {
  const path = nodeFilePath(dataDir);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as NodeFile;
  } catch {
    return undefined; // half a file cannot happen (renamed into place); anything else is not ours to trust
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, someone else's
  }
};

/** The running node of a data directory, or why there is none. */
export function readNodeFile(dataDir: string): { node?: NodeFile; stale?: NodeFile } {
  const found = readNodeFileRaw(dataDir);
  if (!found) return {};
  return alive(found.pid) ? { node: found } : { stale: found };
}
