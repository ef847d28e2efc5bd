import { type KeyObject, createHmac, createSecretKey, hkdfSync } from 'node:crypto';
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

/**
 * Values by (table, key), two levels deep so that lookups hash the strings callers already hold rather than
 * a concatenation made on every call. Past `max` entries or `maxBytes` it starts again empty.
 */
class BoundedCache<V> {
  private readonly maps = new Map<string, Map<string, V>>();
  private entries = 0;
  private bytes = 0;
  constructor(
    private readonly max: number,
    private readonly maxBytes = Infinity,
    private readonly sizeOf: (v: V) => number = () => 0,
  ) {}
  get(table: string, key: string): V | undefined {
    return this.maps.get(table)?.get(key);
  }
  set(table: string, key: string, v: V): void {
    if (this.entries >= this.max || this.bytes >= this.maxBytes) {
      this.maps.clear();
      this.entries = 0;
      this.bytes = 0;
    }
    let map = this.maps.get(table);
    if (!map) this.maps.set(table, (map = new Map()));
    const old = map.get(key);
    if (old === undefined) this.entries++;
    else this.bytes -= this.sizeOf(old);
    map.set(key, v);
    this.bytes += this.sizeOf(v);
  }
}

export class RowSealer {
  private readonly nameKey: KeyObject;
  private readonly valueKey: Buffer;
  private readonly tables = new Map<string, string>();
  /**
   * MACs and unsealed rows are kept (bounded) so that hot rows cost a map lookup rather than an HMAC and an
   * AES-GCM open each (bench/store-rows.ts). A row is reused only at the version it was opened at: every
   * commit gives a row a new version, so a cached value is never older than the stored one.
   */
  private readonly storedKeys = new BoundedCache<string>(50_000);
  private readonly opened = new BoundedCache<{ version: number; key: string; json: string }>(50_000, 32 * 1024 * 1024, (r) => r.json.length * 2 + r.key.length * 2);

  /** `rowKey` is derived from the master key for this one purpose (kms/master-key.ts storeKeysOf). */
  constructor(rowKey: Buffer) {
    this.nameKey = createSecretKey(Buffer.from(hkdfSync('sha256', rowKey, Buffer.alloc(0), 'tessera store row names', 32)));
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
    let stored = this.storedKeys.get(table, key);
    if (stored === undefined) {
      stored = createHmac('sha256', this.nameKey).update(`row\0${table}\0${key}`).digest('base64url');
      this.storedKeys.set(table, key, stored);
    }
    return stored;
  }

  /** The stored value of a private row: nonce ‖ AES-GCM(len(key) ‖ key ‖ json) ‖ tag. */
  seal(storedTable: string, storedKey: string, key: string, json: string): Buffer {
    const k = Buffer.from(key, 'utf8');
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(k.length);
    return seal(this.valueKey, Buffer.concat([head, k, Buffer.from(json, 'utf8')]), this.binding(storedTable, storedKey));
  }

  /** The row's real key and its value's JSON; throws if the stored bytes were altered, moved or sealed under another key. */
  open(table: string, storedTable: string, storedKey: string, stored: unknown, version: number): { key: string; json: string } {
    const hit = this.opened.get(storedTable, storedKey);
    if (hit !== undefined && hit.version === version) return hit;
    const row = { version, ...this.unseal(table, storedTable, storedKey, stored) };
    this.opened.set(storedTable, storedKey, row);
    return row;
  }

  /** The JSON of the row stored for `key`; throws if what is stored there holds another key (a MAC collision or a forgery). */
  openAs(table: string, storedTable: string, storedKey: string, stored: unknown, version: number, key: string): string {
    const opened = this.open(table, storedTable, storedKey, stored, version);
    if (opened.key !== key) throw new TesseraError('internal', `a stored row of table '${table}' holds another key than the one it is stored under`);
    return opened.json;
  }

  private unseal(table: string, storedTable: string, storedKey: string, stored: unknown): { key: string; json: string } {
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
