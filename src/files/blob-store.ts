// What the file service needs from wherever ciphertext blobs live: the node's own disk (blobs.ts,
// LocalBlobStore) or a store shared by several nodes (nats-blobs.ts, NatsBlobStore on JetStream's object
// store). Every blob is already node-encrypted AES-256-GCM ciphertext with its tag appended; a store
// never sees a key it could decrypt with, only the verifier does (Expected.config), in memory.
import type { Readable } from 'node:stream';
import type { KeyConfig } from '../kms/service.js';

/** What an upload must turn out to be: checked while it streams (CiphertextVerifier in blobs.ts). */
export interface Expected {
  config: KeyConfig;
  /** Plaintext size in bytes, as the owner declared it. */
  fileSize: number;
  /** Lowercase hex SHA-256 of the plaintext, as the owner declared it. */
  sha256: string;
}

export interface BlobStore {
  /**
   * Streams `source` into the blob for `fileId`, verifying length, GCM tag and plaintext SHA-256 as it
   * passes. The blob becomes readable under `fileId` only once verification passed and the bytes are
   * durable; on any failure nothing is left readable. A client's fault is 'invalid_input'; the store's,
   * 'insufficient_storage' or 'unavailable'.
   */
  writeVerified(fileId: string, source: Readable, expected: Expected): Promise<void>;
  /** Stores a ciphertext produced inside the node (function outputs), all or nothing. */
  writeBuffer(fileId: string, data: Buffer): Promise<void>;
  /** Streams a blob. Synchronous so that callers can hand the stream on at once; failures arrive on the stream. */
  openRead(fileId: string): Readable;
  /** A whole blob in memory (callers bound its size first). */
  read(fileId: string): Promise<Buffer>;
  /** Removes a blob; removing a missing one is not an error. */
  remove(fileId: string): Promise<void>;
  /** The stored size in bytes, or undefined when there is no such blob. */
  size(fileId: string): Promise<number | undefined>;
  /** At start: drops what uploads cut off by a stop left behind. Returns how many were dropped. */
  sweepIncoming(): number | Promise<number>;
  /** The local disk's emergency reserve (see blobs.ts); a store whose bytes are not on this disk holds none. */
  ensureReserve(): void;
  /** Gives up that reserve so that a delete can be recorded on a full disk; false if none was held. */
  releaseReserve(): boolean;
}
