import type { Socket } from 'node:net';
import { TesseraError } from '../errors/index.js';

// MesaTEE framing: an 8-byte unsigned big-endian length, then exactly that many bytes of
// compact UTF-8 JSON, in both directions.

export const HEADER_BYTES = 8;

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  frame.writeBigUInt64BE(BigInt(body.length), 0);
  body.copy(frame, HEADER_BYTES);
  return frame;
}

export interface FrameLimits {
  maxFrameBytes: number;
  /** Once a frame has begun, all of it must have arrived within this time (a deadline, not an idle gap). */
  frameTimeoutMs: number;
  /** With no frame begun, the connection may stay silent this long. */
  idleTimeoutMs: number;
}

/**
 * Reads whole frames from a socket, one `next()` at a time. The declared length is checked
 * against the limit before any of the body is buffered, and the socket is paused while a
 * frame's worth of data waits to be consumed, so a client cannot make the node hold more
 * than one frame per connection.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private failure: TesseraError | null = null;
  private waiter: { resolve: (b: Buffer | null) => void; reject: (e: Error) => void } | null = null;
  private timer: NodeJS.Timeout | null = null;
  /**
   * When the frame being read must be complete. Set by its first byte and never moved by later ones, so
   * a peer dripping a byte at a time cannot hold a connection (and its buffer) open for ever.
   */
  private frameDeadline: number | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly limits: FrameLimits,
  ) {
    socket.on('data', (chunk: Buffer) => {
      if (this.buffered === 0) this.frameDeadline = Date.now() + limits.frameTimeoutMs;
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered > limits.maxFrameBytes + HEADER_BYTES) socket.pause();
      this.pump();
    });
    socket.on('end', () => {
      this.ended = true;
      this.pump();
    });
  }

  /** The next frame's body, or null when the peer closed cleanly between frames. */
  next(): Promise<Buffer | null> {
    if (this.waiter) throw new Error('FrameReader.next() called twice');
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  /** True while part of a frame has arrived but not all of it. */
  get midFrame(): boolean {
    return this.buffered > 0;
  }

  private pump() {
    if (!this.waiter) return;
    const settle = (fn: () => void) => {
      this.clearTimer();
      this.waiter = null;
      fn();
    };
    const { resolve, reject } = this.waiter;
    if (this.failure) return settle(() => reject(this.failure!));
    if (this.buffered >= HEADER_BYTES) {
      const head = this.peek(HEADER_BYTES);
      const declared = head.readBigUInt64BE(0);
      if (declared > BigInt(this.limits.maxFrameBytes)) {
        this.failure = new TesseraError(
          'too_large',
          `frame declares ${declared} bytes; the limit is ${this.limits.maxFrameBytes} (wire.max_frame_bytes)`,
        );
        return settle(() => reject(this.failure!));
      }
      const total = HEADER_BYTES + Number(declared);
      if (this.buffered >= total) {
        const frame = this.take(total).subarray(HEADER_BYTES);
        // Bytes already here past this frame begin the next one, which gets a deadline of its own from now.
        this.frameDeadline = this.buffered > 0 ? Date.now() + this.limits.frameTimeoutMs : null;
        if (this.buffered <= this.limits.maxFrameBytes + HEADER_BYTES) this.socket.resume();
        return settle(() => resolve(frame));
      }
    }
    if (this.ended) {
      if (this.buffered === 0) return settle(() => resolve(null));
      const got = this.buffered;
      const want = got >= HEADER_BYTES ? `${HEADER_BYTES + Number(this.peek(HEADER_BYTES).readBigUInt64BE(0))}` : `at least ${HEADER_BYTES}`;
      this.failure = new TesseraError('parse_error', `truncated frame: the connection ended after ${got} of ${want} bytes`);
      return settle(() => reject(this.failure!));
    }
    this.armTimer();
  }

  private armTimer() {
    this.clearTimer();
    const mid = this.buffered > 0;
    const ms = mid ? Math.max(0, (this.frameDeadline ?? Date.now() + this.limits.frameTimeoutMs) - Date.now()) : this.limits.idleTimeoutMs;
    this.timer = setTimeout(() => {
      this.failure = new TesseraError(
        'timeout',
        mid
          ? `incomplete frame: ${this.buffered} bytes arrived, but a frame must arrive whole within ${this.limits.frameTimeoutMs} ms of its first byte (wire.frame_timeout_ms)`
          : `connection idle for ${ms} ms (wire.idle_timeout_ms)`,
      );
      this.pump();
    }, ms);
    this.timer.unref();
  }

  private clearTimer() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  dispose() {
    this.clearTimer();
  }
}
