import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface ConnectionAdmissionOptions {
  /** Connections one remote address may hold on the listener, counted from TCP accept. */
  maxPerAddress: number;
  /** Connections that have not finished their TLS handshake, from all addresses together. */
  maxHandshaking: number;
}

/**
 * Who may hold a listener's connections before proving anything (issue 16, finding 10b). Two bounds, both
 * counted from the moment TCP accepts, before any TLS:
 * - one remote address holds at most `maxPerAddress` connections: past it, its new one is closed at once;
 * - connections still in their handshake share a budget, `maxHandshaking`, which they never exceed: when
 *   it is full, a new connection is let in and, to make room, the oldest handshaking connection of the
 *   address holding the most of them is closed. Addresses that open connections and never speak lose them
 *   to every newcomer, so they can never fill the listener's max_connections, and a client from another
 *   address (holding one, not dozens) gets its handshake done. Only an attacker with about as many
 *   addresses as the budget could crowd it out. Real clients send their TLS hello at once: a handshake
 *   takes milliseconds, so a budget of hundreds is not reached by honest bursts.
 * A connection whose client closes its side before finishing the handshake is closed at once, rather than
 * keeping its slot until the handshake timeout (the listeners allow half-open connections for replies).
 */
export class ConnectionAdmission {
  private readonly open = new Map<string, number>();
  /** Handshaking connections by address, oldest first, and by address:port (to find them once secure). */
  private readonly handshaking = new Map<string, Set<Socket>>();
  private readonly byPeer = new Map<string, Socket>();
  private handshakingCount = 0;
  /** Connections closed to make room, for the logs and tests. */
  readonly stats = { refused: 0, evicted: 0 };

  constructor(private readonly opts: ConnectionAdmissionOptions) {}

  /** On the server's 'connection': counts the socket until it closes; false (and destroyed) if refused. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? 'unknown';
    const count = this.open.get(address) ?? 0;
    if (count >= this.opts.maxPerAddress) {
      this.stats.refused++;
      socket.destroy();
      return false;
    }
    this.makeRoom();
    this.open.set(address, count + 1);
    const peer = `${address}:${socket.remotePort}`;
    let mine = this.handshaking.get(address);
    if (!mine) this.handshaking.set(address, (mine = new Set()));
    mine.add(socket);
    this.byPeer.set(peer, socket);
    this.handshakingCount++;
    socket.once('end', () => {
      if (this.isHandshaking(address, socket)) socket.destroy();
    });
    socket.once('close', () => {
      this.doneHandshaking(address, peer, socket);
      const left = (this.open.get(address) ?? 1) - 1;
      if (left <= 0) this.open.delete(address);
      else this.open.set(address, left);
    });
    return true;
  }

  /** On the server's 'secureConnection': the handshake is done, and the connection leaves that budget. */
  secured(tlsSocket: TLSSocket): void {
    const address = tlsSocket.remoteAddress ?? 'unknown';
    const peer = `${address}:${tlsSocket.remotePort}`;
    const socket = this.byPeer.get(peer);
    if (socket) this.doneHandshaking(address, peer, socket);
  }

  private isHandshaking(address: string, socket: Socket): boolean {
    return this.handshaking.get(address)?.has(socket) ?? false;
  }

  private doneHandshaking(address: string, peer: string, socket: Socket): void {
    const mine = this.handshaking.get(address);
    if (!mine?.delete(socket)) return;
    this.handshakingCount--;
    if (mine.size === 0) this.handshaking.delete(address);
    if (this.byPeer.get(peer) === socket) this.byPeer.delete(peer);
  }

  /** When the handshake budget is full, closes the oldest handshaking connection of the address holding the most. */
  private makeRoom(): void {
    if (this.handshakingCount < this.opts.maxHandshaking) return;
    let heaviest: Set<Socket> | undefined;
    for (const sockets of this.handshaking.values()) if (!heaviest || sockets.size > heaviest.size) heaviest = sockets;
    const socket = heaviest?.values().next().value as Socket | undefined;
    if (!socket) return;
    this.stats.evicted++;
    // Destroying emits 'close' later; it leaves the budget now, so the next newcomer counts right.
    const address = socket.remoteAddress ?? 'unknown';
    this.doneHandshaking(address, `${address}:${socket.remotePort}`, socket);
    socket.destroy();
  }
}
