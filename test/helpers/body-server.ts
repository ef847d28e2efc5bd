// A local HTTP server for the resource tests that reach out (http-poster, serverless): it keeps every
// request's body, by path, and answers through `respond`.
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface BodyServer {
  port: number;
  /** The bodies received on a path, in the order they arrived. */
  bodies(path: string): string[];
  close(): Promise<void>;
}

export async function startBodyServer(respond: (path: string, body: string) => { status: number; body: string } = () => ({ status: 200, body: '' })): Promise<BodyServer> {
  const received = new Map<string, string[]>();
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const body = Buffer.concat(chunks).toString('utf8');
      if (!received.has(path)) received.set(path, []);
      received.get(path)!.push(body);
      const answer = respond(path, body);
      res.writeHead(answer.status, { 'content-type': 'text/plain' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    bodies: (path) => [...(received.get(path) ?? [])],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
