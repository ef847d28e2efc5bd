import tls from 'node:tls';

export interface ClientIdentity {
  cert?: string;
  key?: string;
  ca: string;
}

/** A MesaTEE wire client for tests: 8-byte big-endian length + JSON frames over mutual TLS. */
export class WireClient {
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private ended = false;

  private constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {
      this.ended = true;
      this.wake();
    });
  }

  static connect(port: number, id: ClientIdentity): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, cert: id.cert, key: id.key, ca: [id.ca], servername: 'localhost' }, () =>
        resolve(new WireClient(socket)),
      );
      socket.once('error', reject);
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  send(message: unknown) {
    this.sendRaw(frame(Buffer.from(JSON.stringify(message))));
  }

  sendRaw(bytes: Buffer) {
    this.socket.write(bytes);
  }

  /** The next frame, parsed; null if the server closed the connection first. */
  async receive(): Promise<any> {
    const raw = await this.receiveRaw();
    return raw === null ? null : JSON.parse(raw);
  }

  async receiveRaw(): Promise<string | null> {
    for (;;) {
      if (this.buffer.length >= 8) {
        const len = Number(this.buffer.readBigUInt64BE(0));
        if (this.buffer.length >= 8 + len) {
          const body = this.buffer.subarray(8, 8 + len).toString('utf8');
          this.buffer = this.buffer.subarray(8 + len);
          return body;
        }
      }
      if (this.ended) return null;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async request(message: unknown): Promise<any> {
    this.send(message);
    return this.receive();
  }

  /** Resolves once the server has closed the connection. */
  closed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ended) return resolve();
      this.waiters.push(() => this.ended && resolve());
      const check = () => (this.ended ? resolve() : this.waiters.push(check));
      this.waiters.push(check);
    });
  }

  close() {
    this.socket.destroy();
  }
}

export function frame(body: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeBigUInt64BE(BigInt(body.length));
  return Buffer.concat([header, body]);
}
