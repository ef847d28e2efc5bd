// A real redis-server (Debian's package) for the redis resource's tests: its own temp directory, an
// ephemeral port, no persistence; ended by its pid.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createClient } from '@redis/client';
import { tempDir } from './cli.js';

/** A TCP port nothing listens on now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const testClient = (port: number) => createClient({ socket: { host: '127.0.0.1', port } });
type TestClient = ReturnType<typeof testClient>;

export interface RedisServer {
  port: number;
  url: string;
  /** A client of the test's own, straight to the server. */
  client: TestClient;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const dir = tempDir('tessera-redis-');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    const ready = await new Promise<boolean>((resolve) => {
      proc.stdout!.on('data', () => out.includes('Ready to accept connections') && resolve(true));
      proc.on('exit', () => resolve(false));
      proc.on('error', () => resolve(false));
    });
    if (!ready) {
      // another process took the port between our probe and redis's bind: try another
      if (attempt < 3 && /Address already in use/.test(out)) continue;
      throw new Error(`redis-server did not start: ${out}`);
    }
    const client = testClient(port);
    client.on('error', () => {});
    await client.connect();
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      client,
      stop: async () => {
        await client.close().catch(() => client.destroy());
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      },
    };
  }
}
