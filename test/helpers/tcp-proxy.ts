import { type Server, type Socket, connect, createServer } from 'node:net';

// A TCP proxy on 127.0.0.1 that a test can cut, for partitions: one node reaches a server (NATS) through it
// while the others reach it directly. Real sockets both ways.
//
// cut() is a silent partition, as a dropped route is: connections stay open but nothing crosses in either
// direction (each side's reads are paused, so bytes wait in the kernel's buffers as they would wait for
// retransmission), and new connections are accepted but not forwarded. Nobody is told: a client notices
// only through its own timeouts. restore() lets everything flow again, held connections included.
// cut({ reset: true }) instead ends every connection and refuses new ones, as a rebooted firewall does.

export interface TcpProxy {
  port: number;
  /** Connections forwarded or held now. */
  readonly connections: number;
  cut(opts?: { reset?: boolean }): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host?: string; port: () => number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket | null }>();
  let state: 'open' | 'silent' | 'reset' = 'open';

  const end = (pair: { client: Socket; upstream: Socket | null }) => {
    pair.client.destroy();
    pair.upstream?.destroy();
    pairs.delete(pair);
  };

  const link = (pair: { client: Socket; upstream: Socket | null }) => {
    const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port() });
    pair.upstream = upstream;
    upstream.on('error', () => end(pair));
    upstream.on('close', () => end(pair));
    // Forwarded by hand rather than with pipe(), whose backpressure handling would resume a paused side.
    upstream.on('data', (d) => pair.client.write(d));
    pair.client.on('data', (d) => upstream.write(d));
    if (state === 'silent') pause(pair);
    else pair.client.resume();
  };

  const pause = (pair: { client: Socket; upstream: Socket | null }) => {
    pair.client.pause();
    pair.upstream?.pause();
  };

  const server: Server = createServer((client) => {
    const pair = { client, upstream: null as Socket | null };
    client.on('error', () => end(pair));
    client.on('close', () => end(pair));
    if (state === 'reset') return end(pair);
    pairs.add(pair);
    // Held, unforwarded, while silent: the client sees a connection that never answers.
    client.pause();
    if (state === 'open') link(pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });

  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return pairs.size;
    },
    cut: (opts = {}) => {
      state = opts.reset ? 'reset' : 'silent';
      for (const pair of [...pairs]) {
        if (opts.reset) end(pair);
        else pause(pair);
      }
    },
    restore: () => {
      state = 'open';
      for (const pair of [...pairs]) {
        if (!pair.upstream) link(pair);
        pair.client.resume();
        pair.upstream!.resume();
      }
    },
    close: async () => {
      for (const pair of [...pairs]) end(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
