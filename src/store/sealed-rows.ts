import { createHmac, hkdfSync } from 'node:crypto';
import { seal, unseal } from '../crypto/aead.js';
import { TesseraError } from '../errors/index.js';

// How a private table's rows are kept in store.sqlite (issue 16 #6). A copy of the file without the
// sealing key must reveal nothing but sizes and counts, so for every table not named `public:…`:
// - the table's name is stored as `#` + HMAC(table name), so even which tables exist is hidden;
// - a row's key is stored as HMAC(table, key): point lookups stay one index probe, but the key is hidden;
// - the value is sealed with AES-256-GCM together with the row's real key (the only place it is kept),
//   bound as associated data to where it is stored, so a row moved to another key or table fails to open.
// Listing a private table therefore cannot use SQLite's key order; the store keeps an index of each listed
// table's real keys in memory (sqlite.ts). Public tables are stored as they are, as CCF's are.

export const isPublicTable = (table: string) => table.startsWith('public:');

/** The prefix of a sealed table's stored name; no logical table name starts with it once sealed. */
export const SEALED_TABLE_PREFIX = '#';

export class RowSealer {
  private readonly nameKey: Buffer;
  private readonly valueKey: Buffer;
  private readonly tables = new Map<string, string>();

  /** `rowKey` is derived from the master key for this one purpose (kms/master-key.ts storeKeysOf). */
  constructor(rowKey: Buffer) {
    this.nameKey = Buffer.from(hkdfSync('sha256', rowKey, Buffer.alloc(0), 'tessera store row names', 32));
    this.valueKey = Buffer.from(hkdfSync('sha256', rowKey, Buffer.alloc(0), 'tessera store row values', 32));
  }

  /** The stored name of `table`: its own name if public, else a MAC of it. */
  table(table: string): string {
    if (isPublicTable(table)) return table;
    let stored = this.tables.get(table);
    if (stored === undefined) {
      stored = SEALED_TABLE_PREFIX + createHmac('sha256', this.nameKey).update('table\0').update(table).digest('base64url');
      this.tables.set(table, stored);
    }
    return stored;
  }

  /** The stored key of a private table's row. */
  key(table: string, key: string): string {
    return createHmac('sha256', this.nameKey).update('row\0').update(table).update('\0').update(key).digest('base64url');
  }

  /** The stored value of a private row: nonce ‖ AES-GCM(len(key) ‖ key ‖ json) ‖ tag. */
  seal(storedTable: string, storedKey: string, key: string, json: string): Buffer {
    const k = Buffer.from(key, 'utf8');
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(k.length);
    return seal(this.valueKey, Buffer.concat([head, k, Buffer.from(json, 'utf8')]), this.binding(storedTable, storedKey));
  }

  /** The row's real key and its value's JSON; throws if the stored bytes were altered, moved or sealed under another key. */
  open(table: string, storedTable: string, storedKey: string, stored: unknown): { key: string; json: string } {
    try {
      if (!Buffer.isBuffer(stored)) throw new Error('not sealed');
      const plain = unseal(this.valueKey, stored, this.binding(storedTable, storedKey));
      const n = plain.readUInt32BE(0);
      return { key: plain.subarray(4, 4 + n).toString('utf8'), json: plain.subarray(4 + n).toString('utf8') };
    } catch {
      throw new TesseraError(
        'internal',
        `a stored row of table '${table}' failed its integrity check: store.sqlite was altered outside the node, or is opened with another master key`,
      );
    }
  }

  private binding(storedTable: string, storedKey: string): Buffer {
    return Buffer.from(`tessera row\0${storedTable}\0${storedKey}`, 'utf8');
  }
}
