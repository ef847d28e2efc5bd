import { X509Certificate } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import { certIdOfPem } from '../crypto/certificates.js';
import { type PrincipalService, validatePrincipalName } from '../identity/principals.js';
import type { Role } from '../crypto/certificates.js';
import type { Tx } from '../store/types.js';
import { GOV, type MemberInfo } from './tables.js';

// ccf.kv as governance code sees it (CCF's constitution and ballots), over Tessera's Store.
//
// CCF's constitution reads and writes governance tables as raw bytes: keys such as ccf.strToBuf(memberId),
// values such as ccf.jsonCompatibleToBuf(info), one-value tables at a key of 8 zero bytes. Tessera keeps
// the same tables under the same names, but stores rows as JSON values under string keys (readable in the
// ledger, and read that way by the rest of the node), and keeps users and members as principals. Each table
// therefore has an adapter between CCF's bytes and Tessera's rows; tables Tessera does not interpret are
// kept as hex, exactly as app tables are (src/apps/kv.ts), so an app reading them sees the same bytes.
//
// Access follows CCF's rules (src/js/permissions_checks.h in CCF): in validate, resolve and ballots
// (read-only governance) every public governance and internal table is read-only; in apply (read-write
// governance) governance tables are writable, internal ones read-only, public application tables
// write-only; private tables are inaccessible throughout.

export type GovPhase = 'ro' | 'rw';
type Access = 'RO' | 'RW' | 'WO' | 'none';

const EXPLAIN = 'https://microsoft.github.io/CCF/main/audit/read_write_restrictions.html';

/** The singleton key of CCF's one-value tables: 8 zero bytes (its getSingletonKvKey). */
const SINGLETON = Buffer.alloc(8);

const utf8 = (b: Buffer) => b.toString('utf8');
const bytes = (s: string) => Buffer.from(s, 'utf8');
const jsonIn = (table: string) => (b: Buffer) => {
  try {
    return JSON.parse(utf8(b));
  } catch {
    throw new TypeError(`Values of ${table} are JSON: the value written is not (use ccf.jsonCompatibleToBuf)`);
  }
};
const jsonOut = (v: unknown) => bytes(JSON.stringify(v));

export interface GovKvDeps {
  tx: Tx;
  principals: PrincipalService;
  /** Whether a constitution source was checked (loads, right exports, dry run) and the problem if any. */
  constitutionProblem: (source: string) => string | null;
  /** The latest ledger signature, for public:ccf.internal.signatures. */
  lastSignature?: () => { seqno: number; root: string } | null;
  /** The service certificate, for public:ccf.gov.service.info. */
  serviceCertPem?: string;
}

/** One table as CCF's bytes. */
interface Adapter {
  get(key: Buffer): Buffer | undefined;
  set(key: Buffer, value: Buffer): void;
  delete(key: Buffer): void;
  entries(): Array<[Buffer, Buffer]>;
  version?(key: Buffer): number | undefined;
  /** Tessera computes this table; governance may read it only. */
  readOnly?: string;
}

/** A Store table of rows `key → value`, with CCF bytes mapped by `key` and `value` codecs. */
function stored(tx: Tx, table: string, key: { in(b: Buffer): string; out(k: string): Buffer }, value: { in(b: Buffer): unknown; out(v: unknown): Buffer }): Adapter {
  return {
    get: (k) => {
      const v = tx.get(table, key.in(k));
      return v === undefined ? undefined : value.out(v);
    },
    set: (k, v) => tx.put(table, key.in(k), value.in(v)),
    delete: (k) => tx.delete(table, key.in(k)),
    entries: () => tx.list(table).map(([k, v]) => [key.out(k), value.out(v)]),
    version: (k) => tx.versionOf(table, key.in(k)),
  };
}

const TEXT_KEY = { in: utf8, out: bytes };
const RAW_TEXT = { in: utf8, out: (v: unknown) => bytes(String(v)) };
const HEX = { in: (b: Buffer) => b.toString('hex'), out: (h: unknown) => Buffer.from(String(h), 'hex') };
const singleton = (table: string, name: string) => ({
  in: (b: Buffer) => {
    if (!b.equals(SINGLETON)) throw new TypeError(`${table} holds one value, at the key of 8 zero bytes (new ArrayBuffer(8))`);
    return name;
  },
  out: () => Buffer.from(SINGLETON),
});

/** public:ccf.gov.{users,members}.certs: the principals of that role, keyed by certificate id. */
function certsOf(deps: GovKvDeps, role: Role, table: string): Adapter {
  const { tx, principals } = deps;
  const find = (id: string) => {
    const p = principals.byCertIdIn(tx, id);
    return p && p.role === role ? p : undefined;
  };
  return {
    get: (k) => {
      const p = find(utf8(k));
      return p ? bytes(p.certPem) : undefined;
    },
    set: (k, v) => {
      const id = utf8(k);
      const pem = utf8(v);
      let certId: string;
      try {
        certId = certIdOfPem(pem);
      } catch {
        throw new TypeError(`${table}: the value is not a PEM certificate`);
      }
      if (certId !== id) throw new TypeError(`${table}: the key must be the certificate's id (ccf.pemToId(cert)), ${certId}, not ${id}`);
      const existing = principals.byCertIdIn(tx, id);
      if (existing) {
        // The same certificate again is CCF's way to update a user or member: nothing changes here.
        if (existing.role === role) return;
        throw new TesseraError('conflict', `certificate ${id} already belongs to ${existing.role} ${existing.name}: in Tessera a certificate is one identity`);
      }
      principals.addIn(tx, { name: nameFor(deps, pem), role, certPem: pem, tokenHash: null });
    },
    delete: (k) => {
      const p = find(utf8(k));
      if (!p) return; // CCF's removals are idempotent
      if (role === 'member') {
        const others = principals.listIn(tx).filter((m) => m.role === 'member' && m.certId !== p.certId && tx.get<MemberInfo>(GOV.membersInfo, m.certId)?.status !== 'Accepted');
        // Without an active member no proposal could ever pass again: governance would be locked for good.
        if (others.length === 0) throw new TesseraError('permission_denied', 'removing this member would leave the service with no active member');
      }
      principals.removeIn(tx, p.name);
    },
    entries: () => principals.listIn(tx).filter((p) => p.role === role).map((p) => [bytes(p.certId), bytes(p.certPem)]),
  };
}

/** A principal name for a certificate brought by governance: its CN if that is a free valid name, else its id. */
export function nameFor(deps: Pick<GovKvDeps, 'tx' | 'principals'>, certPem: string): string {
  const cn = /CN=([^,\n]+)/.exec(new X509Certificate(certPem).subject)?.[1]?.trim();
  try {
    if (cn) {
      validatePrincipalName(cn);
      if (!deps.principals.listIn(deps.tx).some((p) => p.name === cn)) return cn;
    }
  } catch {
    /* fall back to the id */
  }
  return certIdOfPem(certPem);
}

/** public:ccf.gov.members.info: stored rows, and Active for members made at init (which have none). */
function membersInfo(deps: GovKvDeps): Adapter {
  const { tx, principals } = deps;
  const base = stored(tx, GOV.membersInfo, TEXT_KEY, { in: jsonIn(GOV.membersInfo), out: jsonOut });
  const implicit = (id: string) => {
    const p = principals.byCertIdIn(tx, id);
    return p && p.role === 'member' ? jsonOut({ status: 'Active' }) : undefined;
  };
  return {
    ...base,
    get: (k) => base.get(k) ?? implicit(utf8(k)),
    entries: () => {
      const rows = new Map(base.entries().map(([k, v]) => [utf8(k), v]));
      for (const p of principals.listIn(tx)) if (p.role === 'member' && !rows.has(p.certId)) rows.set(p.certId, jsonOut({ status: 'Active' }));
      return [...rows].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [bytes(k), v]);
    },
  };
}

/** public:ccf.gov.constitution: a JSON string; one that was not checked (load, exports, dry run) is never stored. */
function constitution(deps: GovKvDeps): Adapter {
  const base = stored(deps.tx, GOV.constitution, singleton(GOV.constitution, 'constitution'), { in: jsonIn(GOV.constitution), out: jsonOut });
  return {
    ...base,
    set: (k, v) => {
      const source = jsonIn(GOV.constitution)(v);
      if (typeof source !== 'string') throw new TypeError(`${GOV.constitution} holds a string`);
      const problem = deps.constitutionProblem(source);
      if (problem) throw new TypeError(`refusing to store a constitution that would lock governance: ${problem}`);
      base.set(k, v);
    },
    delete: () => {
      throw new TypeError(`${GOV.constitution} cannot be deleted: without a constitution no proposal could be evaluated`);
    },
  };
}

/** public:ccf.internal.signatures: the latest ledger signature, as {seqno, view, root} (read-only). */
function signatures(deps: GovKvDeps): Adapter {
  const value = () => {
    const s = deps.lastSignature?.();
    return s ? jsonOut({ seqno: s.seqno, view: 1, root: s.root }) : undefined;
  };
  return {
    get: (k) => (k.equals(SINGLETON) ? value() : undefined),
    set: () => undefined,
    delete: () => undefined,
    entries: () => {
      const v = value();
      return v ? [[Buffer.from(SINGLETON), v]] : [];
    },
    readOnly: 'it is the ledger',
  };
}

/** public:ccf.gov.service.info: {status: "Open", cert} (read-only): Tessera's service opens at init and never recovers. */
function serviceInfo(deps: GovKvDeps): Adapter {
  const value = () => jsonOut({ status: 'Open', ...(deps.serviceCertPem ? { cert: deps.serviceCertPem } : {}) });
  return {
    get: (k) => (k.equals(SINGLETON) ? value() : undefined),
    set: () => undefined,
    delete: () => undefined,
    entries: () => [[Buffer.from(SINGLETON), value()]],
    readOnly: 'the service state is the node\'s',
  };
}

/** Tables whose rows the rest of Tessera reads, with their CCF encodings. */
function adapterFor(name: string, deps: GovKvDeps): Adapter {
  const { tx } = deps;
  const json = (table: string) => ({ in: jsonIn(table), out: jsonOut });
  switch (name) {
    case GOV.constitution:
      return constitution(deps);
    case GOV.membersInfo:
      return membersInfo(deps);
    case GOV.membersCerts:
      return certsOf(deps, 'member', name);
    case GOV.usersCerts:
      return certsOf(deps, 'user', name);
    case GOV.usersInfo:
    case GOV.endpoints:
    case GOV.proposalsInfo:
    case GOV.jwtIssuers:
      return stored(tx, name, TEXT_KEY, json(name));
    case GOV.modules:
    case GOV.proposals:
      return stored(tx, name, TEXT_KEY, RAW_TEXT);
    case GOV.interpreterFlush:
      return stored(tx, name, singleton(name, 'flush'), json(name));
    case GOV.jsRuntimeOptions:
      return stored(tx, name, singleton(name, 'options'), json(name));
    case GOV.signatures:
      return signatures(deps);
    case GOV.serviceInfo:
      return serviceInfo(deps);
    default:
      // Opaque to Tessera: the bytes, as hex (as app tables are kept).
      return stored(tx, name, HEX, HEX);
  }
}

function accessOf(name: string, phase: GovPhase): Access {
  if (!name.startsWith('public:')) return 'none';
  if (name.startsWith('public:ccf.internal.')) return 'RO';
  if (name.startsWith('public:ccf.gov.')) return phase === 'rw' ? 'RW' : 'RO';
  if (name.startsWith('public:ccf.')) return 'none';
  return phase === 'rw' ? 'WO' : 'none';
}

const READS = new Set(['has', 'get', 'version', 'size', 'entries']);
const WRITES = new Set(['set', 'delete', 'clear']);

const ab = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/** The host side of governance ccf.kv: `(table, method, key?, value?)`, bound to one transaction and phase. */
export function govKvHost(deps: GovKvDeps, phase: GovPhase) {
  const adapters = new Map<string, Adapter>();
  return (name: string, method: string, a?: ArrayBuffer | null, b?: ArrayBuffer | null): unknown => {
    const access = accessOf(name, phase);
    const reading = READS.has(method);
    if (access === 'none' || (access === 'RO' && !reading) || (access === 'WO' && reading)) {
      const kind = access === 'RO' ? 'read-only' : access === 'WO' ? 'write-only' : 'inaccessible';
      throw new TypeError(`Cannot call ${method} on table named ${name}. This table is ${kind} in current (${phase === 'rw' ? 'read-write' : 'read-only'} governance) execution context. See ${EXPLAIN} for more detail.`);
    }
    if (access === 'WO') {
      // Public application tables, written by governance as apps keep them (src/apps/kv.ts).
      const table = `public:app:${name.slice('public:'.length)}`;
      if (method === 'set') tx(deps).put(table, Buffer.from(a!).toString('hex'), Buffer.from(b!).toString('hex'));
      else if (method === 'delete') tx(deps).delete(table, Buffer.from(a!).toString('hex'));
      else for (const [k] of tx(deps).list(table)) tx(deps).delete(table, k);
      return undefined;
    }
    let adapter = adapters.get(name);
    if (!adapter) adapters.set(name, (adapter = adapterFor(name, deps)));
    if (adapter.readOnly && WRITES.has(method)) throw new TypeError(`Cannot call ${method} on table named ${name}: ${adapter.readOnly}, governance reads it only`);
    const key = a ? Buffer.from(a) : Buffer.alloc(0);
    switch (method) {
      case 'has':
        return adapter.get(key) !== undefined;
      case 'get': {
        const v = adapter.get(key);
        return v === undefined ? undefined : ab(v);
      }
      case 'version':
        return adapter.version?.(key);
      case 'size':
        return adapter.entries().length;
      case 'entries':
        return adapter.entries().map(([k, v]) => [ab(k), ab(v)]);
      case 'set':
        adapter.set(key, Buffer.from(b!));
        return undefined;
      case 'delete':
        adapter.delete(key);
        return undefined;
      case 'clear':
        for (const [k] of adapter.entries()) adapter.delete(k);
        return undefined;
      default:
        throw new TesseraError('internal', `unknown kv method ${method}`);
    }
  };
}

const tx = (deps: GovKvDeps) => deps.tx;
