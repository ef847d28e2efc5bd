// Baseline for the wire benchmarks: the same mutual TLS and the same framing and JSON work as a
// Tessera listener, with no store, no authentication and no task logic behind it. Run as a child
// process, like the node, so the two are measured the same way.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';

const dir = process.argv[2];
const server = tls.createServer(
  {
    cert: readFileSync(join(dir, 'node', 'cert.pem')),
    // The node's key is kept sealed in its data directory; the bench unseals it and hands it over.
    key: process.env.BASELINE_KEY_PEM!,
    ca: [readFileSync(join(dir, 'ca.pem'))],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  },
  (socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 8) {
        const len = Number(buffer.readBigUInt64BE(0));
        if (buffer.length < 8 + len) break;
        const message = JSON.parse(buffer.subarray(8, 8 + len).toString('utf8'));
        buffer = buffer.subarray(8 + len);
        const reply = Buffer.from(JSON.stringify({ type: message.type ?? 'Invoke', echoed: Object.keys(message).length }));
        const header = Buffer.alloc(8);
        header.writeBigUInt64BE(BigInt(reply.length));
        socket.write(Buffer.concat([header, reply]));
      }
    });
    socket.on('error', () => {});
  },
);
server.listen(0, '127.0.0.1', () => console.log(`baseline ready ${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => process.exit(0));
