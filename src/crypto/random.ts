import { createHash, randomBytes, randomUUID } from 'node:crypto';

export const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** `bytes` bytes from the CSPRNG as lowercase hex. */
export const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** Lowercase hyphenated UUIDv4, the id format of tasks, files and keys. */
export const newUuid = (): string => randomUUID();
