import { TesseraError } from '../errors/index.js';

// The manifest of a `tessera backup` archive (docs/backup.md): the last entry of the tar, naming every other
// entry with its size and SHA-256, so that `tessera restore` can tell a damaged or truncated copy from a good
// one before it writes anything where the node will look.

export const MANIFEST_NAME = 'tessera-backup.json';
export const BACKUP_FORMAT = 'tessera-backup';
export const BACKUP_FORMAT_VERSION = 1;

export interface BackupEntry {
  path: string;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  format_version: number;
  created_at: string;
  /** The Tessera that made it. */
  tessera_version: string;
  /** The store's schema version (store/schema.ts): a restore by an older Tessera is refused. */
  schema_version: number;
  /** The ledger's last transaction in the copied store. */
  ledger_last_seqno: number;
  files: BackupEntry[];
}

/** Parses a manifest's bytes, refusing anything that is not one this code can read. */
export function parseManifest(bytes: Buffer, from: string): BackupManifest {
  let m: Partial<BackupManifest>;
  try {
    m = JSON.parse(bytes.toString('utf8')) as Partial<BackupManifest>;
  } catch {
    throw new TesseraError('invalid_input', `${from} is damaged: its manifest (${MANIFEST_NAME}) is not JSON; nothing was restored`);
  }
  if (m.format !== BACKUP_FORMAT) throw new TesseraError('invalid_input', `${from} is not a Tessera backup (its ${MANIFEST_NAME} has format '${String(m.format)}')`);
  if (m.format_version !== BACKUP_FORMAT_VERSION) {
    throw new TesseraError('invalid_input', `${from} is backup format ${String(m.format_version)}; this Tessera reads format ${BACKUP_FORMAT_VERSION}: restore it with the Tessera that made it (${String(m.tessera_version)})`);
  }
  const files = m.files;
  const ok = Array.isArray(files) && files.every((f) => typeof f?.path === 'string' && Number.isSafeInteger(f.bytes) && /^[0-9a-f]{64}$/.test(String(f.sha256)));
  if (!ok || !Number.isInteger(m.schema_version)) throw new TesseraError('invalid_input', `${from} is damaged: its manifest (${MANIFEST_NAME}) does not list its files as a backup's does; nothing was restored`);
  return m as BackupManifest;
}
