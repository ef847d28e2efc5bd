// The slow-clients benchmark's attacker (bench/slow-clients.ts forks it): a process of its own, so that
// its hundreds of sockets and TLS handshakes are not served by the event loop that times the legitimate
// user. It runs one attack of issue 16's finding 10 for `seconds`, reopening every connection the node
// closes at once (as the attacks in the issue did), and sends the parent one message with what it saw.
//
//   10a: TLS without a client certificate; each connection POSTs to a public CCF app path with
//        `content-length: 1000000` and sends 1 body byte, then nothing.
//   10b: TCP connections to a wire listener that never start TLS.
//   10c: wire connections (mutual TLS, a user's certificate) each sending a frame header that declares
//        the largest frame, then 1 byte a second.
import { type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface AttackConfig {
  attack: '10a' | '10b' | '10c';
  port: number;
  /** Connections kept open (each reopened when the node closes it). */
  connections: number;
  /** Local addresses to connect from, round-robin (loopback aliases: 127.0.0.0/8 is all local on Linux). */
  addresses: string[];
  seconds: number;
  ca: string;
  /** 10c: a user's identity, so the frames reach the framing layer. */
  cert?: string;
  key?: string;
  /** 10a: the public app path. */
  path?: string;
  /** 10c: the frame length declared (wire.max_frame_bytes). */
  frameBytes?: number;
}

export interface AttackResult {
  attack: string;
  seconds: number;
  addresses: number;
  target_connections: number;
  /** Connections the attacker tried to open (TCP connect attempts). */
  attempts: number;
  /** Of those, accepted by TCP (the node's kernel). */
  opened: number;
  /**
   * Most connections open at one time, and open at the end, as the attacker sees them: TCP-connected,
   * which includes connections still in the node's accept queue that the node will close at once (the
   * node's own count is bench/slow-clients.ts's connections_held_peak).
   */
  held_peak: number;
  held_at_end: number;
  /** Connections the node closed during the attack (the attacker closes none until the end). */
  closed_by_node: number;
  /** Of those, closed within 100 ms of opening, before any reply: refused at accept. */
  closed_at_once: number;
  /** Lifetime of the connections the node closed after more than 100 ms, ms. */
  lifetime_ms: { median: number; max: number } | null;
  /** 10a: HTTP statuses the node answered with; 10c: wire error frames, by kind. */
  replies: Record<string, number>;
}

const config = JSON.parse(process.argv[2]) as AttackConfig;
const started = performance.now();
let stopping = false;
let attempts = 0;
let opened = 0;
let held = 0;
let heldPeak = 0;
let closedByNode = 0;
let closedAtOnce = 0;
const lifetimes: number[] = [];
const replies: Record<string, number> = {};
const sockets = new Set<Socket>();
const count = (key: string) => (replies[key] = (replies[key] ?? 0) + 1);

const header = Buffer.alloc(8);
header.writeBigUInt64BE(BigInt(config.frameBytes ?? 4 * 1024 * 1024));

function open(i: number) {
  if (stopping) return;
  attempts++;
  const at = { host: '127.0.0.1', port: config.port, localAddress: config.addresses[i % config.addresses.length] };
  const socket: Socket =
    config.attack === '10b'
      ? tcpConnect(at)
      : tlsConnect({ ...at, ca: config.ca, servername: 'localhost', ...(config.attack === '10c' ? { cert: config.cert, key: config.key } : {}) }, () => {
          if (config.attack === '10a') socket.write(`POST ${config.path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{`);
          else socket.write(header);
        });
  let connectedAt = 0;
  let answered = false;
  sockets.add(socket);
  socket.on('connect', () => {
    connectedAt = performance.now();
    opened++;
    held++;
    heldPeak = Math.max(heldPeak, held);
  });
  socket.on('data', (d: Buffer) => {
    if (answered) return;
    answered = true;
    if (config.attack === '10a') count(`HTTP ${/^HTTP\/1\.1 (\d+)/.exec(d.toString('latin1'))?.[1] ?? 'unparsed'}`);
    else count(`wire ${/"kind":"(\w+)"/.exec(d.subarray(8).toString())?.[1] ?? 'frame'}`);
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    sockets.delete(socket);
    if (connectedAt) held--;
    if (stopping) return;
    closedByNode++;
    const lived = connectedAt ? performance.now() - connectedAt : 0;
    if (lived <= 100 && !answered) closedAtOnce++;
    else lifetimes.push(lived);
    // Reopened at once, as the attacks of the issue did; setImmediate keeps the loop from recursing.
    setImmediate(() => open(i));
  });
}

for (let i = 0; i < config.connections; i++) open(i);
// 10c: one more byte of each connection's frame every second.
const drip = config.attack === '10c' ? setInterval(() => sockets.forEach((s) => !s.connecting && s.writable && s.write(' ')), 1000) : undefined;

setTimeout(() => {
  stopping = true;
  clearInterval(drip);
  const sorted = [...lifetimes].sort((a, b) => a - b);
  const result: AttackResult = {
    attack: config.attack,
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    addresses: config.addresses.length,
    target_connections: config.connections,
    attempts,
    opened,
    held_peak: heldPeak,
    held_at_end: held,
    closed_by_node: closedByNode,
    closed_at_once: closedAtOnce,
    lifetime_ms: sorted.length ? { median: Math.round(sorted[Math.floor(sorted.length / 2)]), max: Math.round(sorted[sorted.length - 1]) } : null,
    replies,
  };
  for (const s of sockets) s.destroy();
  process.send!(result, () => process.exit(0));
}, config.seconds * 1000);
