import { TesseraError } from '../errors/index.js';
import type { Tx } from '../store/types.js';

// ccf.kv for apps, on the Store. App tables live under their own prefix in the Store, so an app can
// never reach Tessera's own tables; governance tables keep their CCF names and are read-only to apps.

export type KvContext = 'readwrite' | 'readonly' | 'historical';
type Access = 'RW' | 'RO' | 'none';

const CONTEXT_NAMES: Record<KvContext, string> = { readwrite: 'application', readonly: 'read-only application', historical: 'read-only application' };

/** Where a CCF table name lives in the Store, and what an app may do with it (ccf.md §3). */
export function resolveTable(name: string, context: KvContext): { table: string; access: Access } {
  const isPublic = name.startsWith('public:');
  const bare = isPublic ? name.slice('public:'.length) : name;
  if (bare.startsWith('ccf.internal.')) return { table: `ccf.internal:${name}`, access: isPublic ? 'RO' : 'none' };
  if (bare.startsWith('ccf.gov.')) return { table: name, access: isPublic ? 'RO' : 'none' };
  if (bare.startsWith('ccf.')) throw new TypeError(`Table name '${name}' is reserved: names starting with 'ccf.' belong to CCF`);
  const table = isPublic ? `public:app:${bare}` : `app:${bare}`;
  return { table, access: context === 'readwrite' ? 'RW' : 'RO' };
}

const denied = (method: string, name: string, access: Access, context: KvContext) =>
  new TypeError(
    `Cannot call ${method} on table named ${name}. This table is ${access === 'RO' ? 'read-only' : 'inaccessible'} in current (${CONTEXT_NAMES[context]}) execution context. See https://microsoft.github.io/CCF/main/build_apps/kv/kv_how_to.html for more detail.`,
  );

const hex = (b: ArrayBuffer) => Buffer.from(b).toString('hex');
const unhex = (h: string) => {
  const b = Buffer.from(h, 'hex');
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
};
const WRITES = new Set(['set', 'delete', 'clear']);

/** One request's view of ccf.kv: every call goes to that request's transaction. */
export function kvHost(tx: Tx, context: KvContext) {
  return (name: string, method: string, a?: ArrayBuffer | null, b?: ArrayBuffer | null): unknown => {
    const { table, access } = resolveTable(name, context);
    if (access === 'none' || (access === 'RO' && WRITES.has(method))) throw denied(method, name, access, context);
    switch (method) {
      case 'has':
        return tx.get(table, hex(a!)) !== undefined;
      case 'get': {
        const v = tx.get<string>(table, hex(a!));
        return v === undefined ? undefined : unhex(v);
      }
      case 'version':
        return tx.versionOf(table, hex(a!));
      case 'set':
        tx.put(table, hex(a!), hex(b!));
        return undefined;
      case 'delete':
        tx.delete(table, hex(a!));
        return undefined;
      case 'clear':
        for (const [k] of tx.list(table)) tx.delete(table, k);
        return undefined;
      case 'size':
        return tx.list(table).length;
      case 'entries': {
        const from = a ? hex(a) : null;
        const to = b ? hex(b) : null;
        return tx
          .list<string>(table)
          .filter(([k]) => (from === null || k >= from) && (to === null || k < to))
          .map(([k, v]) => [unhex(k), unhex(v)]);
      }
      default:
        throw new TesseraError('internal', `unknown kv method ${method}`);
    }
  };
}

/**
 * ccf.historicalState.kv, and each state's kv of ccf.historical.getStateRange: read-only, over what one
 * past transaction wrote, as in CCF, where a historical store holds that transaction's writes only
 * (include/ccf/historical_queries_interface.h). A key it did not write is absent; a key it wrote has that
 * transaction's seqno as its version (getVersionOfPreviousWrite).
 */
export function historicalKvHost(stateAt: (table: string) => Map<string, unknown>, seqno?: number) {
  const cache = new Map<string, Array<[string, string]>>();
  const rows = (table: string) => {
    let r = cache.get(table);
    if (!r) cache.set(table, (r = [...(stateAt(table) as Map<string, string>)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
    return r;
  };
  return (name: string, method: string, a?: ArrayBuffer | null, b?: ArrayBuffer | null): unknown => {
    const { table, access } = resolveTable(name, 'historical');
    if (access === 'none' || WRITES.has(method)) throw denied(method, name, access === 'none' ? 'none' : 'RO', 'historical');
    const all = rows(table);
    switch (method) {
      case 'has':
        return all.some(([k]) => k === hex(a!));
      case 'get': {
        const v = all.find(([k]) => k === hex(a!));
        return v ? unhex(v[1]) : undefined;
      }
      case 'version':
        return seqno !== undefined && all.some(([k]) => k === hex(a!)) ? seqno : undefined;
      case 'size':
        return all.length;
      case 'entries': {
        const from = a ? hex(a) : null;
        const to = b ? hex(b) : null;
        return all.filter(([k]) => (from === null || k >= from) && (to === null || k < to)).map(([k, v]) => [unhex(k), unhex(v)]);
      }
      default:
        throw new TesseraError('internal', `unknown kv method ${method}`);
    }
  };
}
