import type { Socket } from 'node:net';

/**
 * A bound on the connections one remote address holds on a listener, counted from the moment TCP
 * accepts them, before any TLS: one address that opens connections and never speaks (or speaks
 * slowly) can take at most this many of the listener's slots, so the others stay free for everyone
 * else. Past it, a new connection from that address is closed at once.
 */
export class ConnectionsPerAddress {
  private readonly open = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Counts the connection until it closes; false (and the socket destroyed) past the bound. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? 'unknown';
    const count = this.open.get(address) ?? 0;
    if (count >= this.max) {
      socket.destroy();
      return false;
    }
    this.open.set(address, count + 1);
    socket.once('close', () => {
      const left = (this.open.get(address) ?? 1) - 1;
      if (left <= 0) this.open.delete(address);
      else this.open.set(address, left);
    });
    return true;
  }
}
