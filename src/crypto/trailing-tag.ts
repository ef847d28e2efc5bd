import { TAG_BYTES } from './aead.js';

/**
 * Splits a stream of `ciphertext || tag` as it arrives: every byte that cannot be part of the trailing
 * GCM tag goes to `body` at once, and only the last TAG_BYTES seen are held back. Chunks are passed on
 * as views, not copied, so a large upload or download costs no extra pass over its bytes.
 */
export class TrailingTag {
  private held = Buffer.alloc(0);

  constructor(private readonly body: (chunk: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (chunk.length >= TAG_BYTES) {
      if (this.held.length) this.body(this.held);
      if (chunk.length > TAG_BYTES) this.body(chunk.subarray(0, chunk.length - TAG_BYTES));
      this.held = Buffer.from(chunk.subarray(chunk.length - TAG_BYTES));
      return;
    }
    const joined = Buffer.concat([this.held, chunk]);
    const body = Math.max(0, joined.length - TAG_BYTES);
    if (body > 0) this.body(joined.subarray(0, body));
    this.held = joined.subarray(body);
  }

  /** The last TAG_BYTES bytes (fewer if the stream was shorter): the tag, once the stream has ended. */
  get tag(): Buffer {
    return this.held;
  }
}
