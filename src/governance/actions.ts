import { X509Certificate } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import { type Principal, type PrincipalService, validatePrincipalName } from '../identity/principals.js';
import { certIdOfPem } from '../crypto/certificates.js';
import type { Tx } from '../store/types.js';
import { jwkShapeProblem, jwksProblem } from './jwks.js';
import { pathTemplateProblem } from './path-template.js';
import { GOV, type JsRuntimeOptions, type MemberInfo } from './tables.js';
import { type EvidenceCheck, type NodeInfo, joinProblem, nodeRows } from './nodes.js';

// The actions a proposal may carry. Each validates its arguments (the default constitution's validate
// calls these) and applies them inside the governance transaction (its apply does).

export interface ActionContext {
  tx: Tx;
  /** The service certificate (the CA every node's certificates come from). */
  serviceCertPem?: string;
  /** The SDK's evidence check, for a joining node (nodes.ts). */
  checkEvidence?: EvidenceCheck;
  principals: PrincipalService;
  proposalId: string;
  /** Names of built-in functions this node has. */
  builtins: Set<string>;
  /** Whether a constitution source compiles and exports validate, resolve and apply (checked beforehand, asynchronously). */
  constitutionCheck: (source: string) => string | null;
  /** Process functions (Fn): check a directory, or register it in the transaction. */
  processes?: {
    check(app: string, digest: string, name: string): string | null;
    deployIn(tx: Tx, app: string, digest: string): unknown;
    checkRemoval(app: string, name: string): string | null;
    removeIn(tx: Tx, app: string, name: string): unknown;
  };
}

interface Action {
  /** `ctx.tx` is the proposal's transaction, read only here: checks against the current state refuse a proposal before any vote. */
  validate(args: any, ctx: Omit<ActionContext, 'proposalId'>): string | null;
  apply(args: any, ctx: ActionContext): void;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => typeof v === 'string';

function certProblem(cert: unknown): string | null {
  if (!str(cert)) return 'cert must be a PEM string';
  try {
    new X509Certificate(cert as string);
    return null;
  } catch {
    return 'cert is not a valid X.509 certificate';
  }
}

const AUTHN = new Set(['user_cert', 'member_cert', 'any_cert', 'jwt', 'user_cose_sign1', 'no_auth']);
const MODES = new Set(['readwrite', 'readonly', 'historical']);
const FORWARDING = new Set(['sometimes', 'always', 'never']);
const REDIRECTION = new Set(['none', 'to_primary', 'to_backup']);

/** CCF's default-constitution checks for a set_js_app bundle (ccf.md §1.4). */
function bundleProblem(args: Record<string, unknown>): string | null {
  const bundle = args.bundle;
  if (!isObject(bundle) || !isObject(bundle.metadata) || !Array.isArray(bundle.modules)) return 'bundle must be {metadata: {endpoints}, modules: [...]}';
  const names = new Set<string>();
  for (const m of bundle.modules as unknown[]) {
    if (!isObject(m) || !str(m.name) || !str(m.module)) return 'every module needs a string name and a string module';
    names.add(m.name as string);
  }
  const endpoints = (bundle.metadata as Record<string, unknown>).endpoints;
  if (!isObject(endpoints)) return 'bundle.metadata.endpoints must be an object';
  for (const [url, methods] of Object.entries(endpoints)) {
    if (!isObject(methods)) return `endpoint ${url} must map methods to their info`;
    const template = pathTemplateProblem(url);
    if (template) return template;
    for (const [method, info] of Object.entries(methods)) {
      const where = `${method.toUpperCase()} ${url}`;
      if (!isObject(info)) return `${where}: endpoint info must be an object`;
      if (!str(info.js_module) || !str(info.js_function)) return `${where}: js_module and js_function must be strings`;
      if (!MODES.has(info.mode as string)) return `${where}: mode must be readwrite, readonly or historical`;
      if (!FORWARDING.has(info.forwarding_required as string)) return `${where}: forwarding_required must be sometimes, always or never`;
      if (info.redirection_strategy !== undefined && !REDIRECTION.has(info.redirection_strategy as string)) return `${where}: redirection_strategy must be none, to_primary or to_backup`;
      if (info.openapi !== undefined && !isObject(info.openapi)) return `${where}: openapi must be an object`;
      if (info.openapi_hidden !== undefined && typeof info.openapi_hidden !== 'boolean') return `${where}: openapi_hidden must be a boolean`;
      const policies = info.authn_policies;
      const okPolicy = (p: unknown) => (str(p) && AUTHN.has(p as string)) || (isObject(p) && Array.isArray(p.all_of) && p.all_of.every((x) => str(x) && AUTHN.has(x as string)));
      if (!Array.isArray(policies) || !policies.every(okPolicy)) return `${where}: authn_policies must be an array of policy names or {all_of: [...]}`;
      if (!names.has(info.js_module as string)) return `module '${info.js_module}' not found in bundle`;
    }
  }
  if (args.disable_bytecode_cache !== undefined && typeof args.disable_bytecode_cache !== 'boolean') return 'disable_bytecode_cache must be a boolean';
  return null;
}

/** CCF's check of a member or user id: the hex SHA-256 of a certificate. */
function entityIdProblem(v: unknown, field: string): string | null {
  if (!str(v)) return `${field} must be of type string but is ${typeof v}`;
  if ((v as string).length !== 64) return `${field} must contain exactly 64 characters`;
  return /^[a-fA-F0-9]*$/.test(v as string) ? null : `${field} contains non-hexadecimal character`;
}

function clearTable(tx: Tx, table: string) {
  for (const [key] of tx.list(table)) tx.delete(table, key);
}

function principalFor(tx: Tx, principals: PrincipalService, id: string, role: 'user' | 'member'): Principal {
  const p = principals.byCertIdIn(tx, id);
  if (!p || p.role !== role) throw new TesseraError('not_found', `no ${role} with id ${id}`);
  return p;
}

/** A principal name for a certificate brought by governance: its CN if that is a free valid name, else its id. */
function nameFor(tx: Tx, principals: PrincipalService, certPem: string): string {
  const cn = /CN=([^,\n]+)/.exec(new X509Certificate(certPem).subject)?.[1]?.trim();
  try {
    if (cn) {
      validatePrincipalName(cn);
      if (!principals.listIn(tx).some((p) => p.name === cn)) return cn;
    }
  } catch {
    /* fall back to the id */
  }
  return certIdOfPem(certPem);
}

/** Why `node_id` may not be removed, or null: it exists, and it is not the last Trusted node. */
function removalProblem(tx: Tx, nodeId: string): string | null {
  const node = tx.get<NodeInfo>(GOV.nodesInfo, nodeId);
  if (!node) {
    // A service with an empty table is its one node, made by init.
    const only = nodeRows(tx).length === 0 ? ' (this service has one node, not recorded in the table: it cannot be removed)' : '';
    return `no node ${nodeId} in public:ccf.gov.nodes.info${only}`;
  }
  if (node.status === 'Retired') return `node ${nodeId} is already Retired`;
  const trusted = nodeRows(tx).filter(([, n]) => n.status === 'Trusted');
  if (node.status === 'Trusted' && trusted.length === 1) return `node ${nodeId} is the last Trusted node: removing it would leave no node to serve the service`;
  return null;
}

export const ACTIONS: Record<string, Action> = {
  transition_node_to_trusted: {
    validate: (a, { tx, serviceCertPem, checkEvidence }) => {
      if (!isObject(a)) return 'args must be an object';
      const problem = entityIdProblem(a.node_id, 'node_id') ?? (str(a.valid_from) ? null : 'valid_from must be of type string');
      if (problem) return problem;
      if (a.validity_period_days !== undefined && (!Number.isInteger(a.validity_period_days) || (a.validity_period_days as number) < 1)) return 'validity_period_days must be an integer of at least 1';
      return joinProblem(tx, a.node_id as string, serviceCertPem, checkEvidence);
    },
    // Checked again against the state the final vote sees. The node's identity becomes a service principal, so
    // the other nodes' internal listeners accept it; until then it is none, and they refuse it.
    apply: (a, { tx, principals, serviceCertPem, checkEvidence }) => {
      const problem = joinProblem(tx, a.node_id, serviceCertPem, checkEvidence);
      if (problem) throw new TesseraError('invalid_input', problem);
      const node = tx.get<NodeInfo>(GOV.nodesInfo, a.node_id)!;
      if (!principals.byCertIdIn(tx, certIdOfPem(node.cert))) principals.addIn(tx, { name: node.node_data.name, role: 'service', certPem: node.cert, tokenHash: null });
      tx.put<NodeInfo>(GOV.nodesInfo, a.node_id, { ...node, status: 'Trusted' });
    },
  },
  remove_node: {
    validate: (a, { tx }) => {
      if (!isObject(a)) return 'args must be an object';
      return entityIdProblem(a.node_id, 'node_id') ?? removalProblem(tx, a.node_id as string);
    },
    // As CCF: a Pending node's row goes, a Trusted one is Retired. Its principal goes too, so every listener
    // refuses its identity; the node itself sees Retired and stops (node/node-join.ts).
    apply: (a, { tx, principals }) => {
      const problem = removalProblem(tx, a.node_id);
      if (problem) throw new TesseraError('invalid_input', problem);
      const node = tx.get<NodeInfo>(GOV.nodesInfo, a.node_id)!;
      const principal = principals.byCertIdIn(tx, certIdOfPem(node.cert));
      if (principal?.role === 'service') principals.removeIn(tx, principal.name);
      if (node.status === 'Pending') tx.delete(GOV.nodesInfo, a.node_id);
      else tx.put<NodeInfo>(GOV.nodesInfo, a.node_id, { ...node, status: 'Retired', retired_committed: true });
    },
  },
  set_js_app: {
    validate: (a) => bundleProblem(a),
    apply: (a, { tx, proposalId }) => {
      clearTable(tx, GOV.modules);
      clearTable(tx, GOV.endpoints);
      for (const m of a.bundle.modules) tx.put(GOV.modules, `/${m.name.replace(/^\/+/, '')}`, m.module);
      for (const [url, methods] of Object.entries(a.bundle.metadata.endpoints as Record<string, Record<string, Record<string, unknown>>>)) {
        for (const [method, info] of Object.entries(methods)) {
          tx.put(GOV.endpoints, `${method.toUpperCase()} ${url}`, { ...info, js_module: `/${String(info.js_module).replace(/^\/+/, '')}` });
        }
      }
      tx.put(GOV.interpreterFlush, 'flush', { disable_bytecode_cache: a.disable_bytecode_cache === true, by: proposalId });
    },
  },
  remove_js_app: {
    validate: () => null,
    apply: (_a, { tx, proposalId }) => {
      clearTable(tx, GOV.modules);
      clearTable(tx, GOV.endpoints);
      tx.put(GOV.interpreterFlush, 'flush', { disable_bytecode_cache: false, by: proposalId });
    },
  },
  refresh_js_app_bytecode_cache: {
    validate: () => null,
    apply: (_a, { tx, proposalId }) => {
      const current = tx.get<{ disable_bytecode_cache: boolean }>(GOV.interpreterFlush, 'flush');
      tx.put(GOV.interpreterFlush, 'flush', { disable_bytecode_cache: current?.disable_bytecode_cache ?? false, by: proposalId });
    },
  },
  set_jwt_public_signing_keys: {
    validate: (a) => ACTIONS.set_jwt_issuer.validate(a, undefined as never),
    apply: (a, { tx }) => {
      if (!tx.get(GOV.jwtIssuers, a.issuer)) throw new TesseraError('not_found', `no JWT issuer ${a.issuer}; add it with set_jwt_issuer`);
      for (const [key] of tx.list(GOV.jwtKeys, `${a.issuer} `)) tx.delete(GOV.jwtKeys, key);
      for (const k of a.jwks?.keys ?? []) tx.put(GOV.jwtKeys, `${a.issuer} ${k.kid}`, k);
    },
  },
  set_member: {
    validate: (a) => (!isObject(a) ? 'args must be an object' : certProblem(a.cert)),
    apply: (a, { tx, principals }) => {
      const p = principals.addIn(tx, { name: nameFor(tx, principals, a.cert), role: 'member', certPem: a.cert, tokenHash: null });
      tx.put<MemberInfo>(GOV.membersInfo, p.certId, { status: 'Accepted', ...(a.member_data !== undefined ? { member_data: a.member_data } : {}) });
    },
  },
  remove_member: {
    validate: (a) => (isObject(a) && str(a.member_id) ? null : 'member_id must be a string'),
    apply: (a, { tx, principals }) => {
      const p = principalFor(tx, principals, a.member_id, 'member');
      const active = principals.listIn(tx).filter((m) => m.role === 'member' && m.certId !== p.certId && tx.get<MemberInfo>(GOV.membersInfo, m.certId)?.status !== 'Accepted');
      if (active.length === 0) throw new TesseraError('permission_denied', 'removing this member would leave the service with no active member');
      principals.removeIn(tx, p.name);
      tx.delete(GOV.membersInfo, p.certId);
    },
  },
  set_member_data: {
    validate: (a) => (!isObject(a) ? 'args must be an object' : (entityIdProblem(a.member_id, 'member_id') ?? (isObject(a.member_data) ? null : 'member_data must be an object'))),
    apply: (a, { tx, principals }) => {
      const p = principals.byCertIdIn(tx, a.member_id);
      if (!p || p.role !== 'member') throw new TesseraError('not_found', `Member ${a.member_id} does not exist`);
      // Members made at init have no row yet: they are Active.
      const info = tx.get<MemberInfo>(GOV.membersInfo, a.member_id) ?? { status: 'Active' as const };
      tx.put<MemberInfo>(GOV.membersInfo, a.member_id, { ...info, member_data: a.member_data });
    },
  },
  set_js_runtime_options: {
    validate: (a) => {
      if (!isObject(a)) return 'args must be an object';
      for (const k of ['max_heap_bytes', 'max_stack_bytes', 'max_execution_time_ms']) if (!Number.isInteger(a[k])) return `${k} must be an integer`;
      for (const k of ['log_exception_details', 'return_exception_details']) if (a[k] !== undefined && a[k] !== null && typeof a[k] !== 'boolean') return `${k} must be of type boolean but is ${typeof a[k]}`;
      if (a.max_cached_interpreters !== undefined && a.max_cached_interpreters !== null && !Number.isInteger(a.max_cached_interpreters)) return 'max_cached_interpreters must be an integer';
      return null;
    },
    // The app runtime reads these on its next request (apps/service.ts); governance code may only be given more.
    apply: (a, { tx }) => tx.put<JsRuntimeOptions>(GOV.jsRuntimeOptions, 'options', a),
  },
  set_user: {
    validate: (a) => {
      if (!isObject(a)) return 'args must be an object';
      return certProblem(a.cert) ?? (a.user_data !== undefined && a.user_data !== null && !isObject(a.user_data) ? 'user_data must be an object' : null);
    },
    apply: (a, { tx, principals }) => {
      // set_user on a known certificate is CCF's way to change a user's data: the user stays, its data is replaced.
      const id = certIdOfPem(a.cert);
      const existing = principals.byCertIdIn(tx, id);
      if (existing && existing.role !== 'user') throw new TesseraError('conflict', `certificate ${id} already belongs to ${existing.role} ${existing.name}: in Tessera a certificate is one identity`);
      if (!existing) principals.addIn(tx, { name: nameFor(tx, principals, a.cert), role: 'user', certPem: a.cert, tokenHash: null });
      if (a.user_data !== undefined && a.user_data !== null) tx.put(GOV.usersInfo, id, { user_data: a.user_data });
      else tx.delete(GOV.usersInfo, id);
    },
  },
  remove_user: {
    validate: (a) => (isObject(a) && str(a.user_id) ? null : 'user_id must be a string'),
    apply: (a, { tx, principals }) => {
      const p = principalFor(tx, principals, a.user_id, 'user');
      principals.removeIn(tx, p.name);
      tx.delete(GOV.usersInfo, p.certId);
    },
  },
  set_user_data: {
    validate: (a) => (isObject(a) && str(a.user_id) ? null : 'user_id must be a string'),
    apply: (a, { tx, principals }) => {
      principalFor(tx, principals, a.user_id, 'user');
      tx.put(GOV.usersInfo, a.user_id, { user_data: a.user_data ?? null });
    },
  },
  set_constitution: {
    validate: (a, ctx) => (isObject(a) && str(a.constitution) ? ctx.constitutionCheck(a.constitution as string) : 'constitution must be a string'),
    apply: (a, { tx, proposalId, constitutionCheck }) => {
      // Checked again against the state it is applied to: a constitution that cannot govern is never stored.
      const problem = constitutionCheck(a.constitution);
      if (problem) throw new TesseraError('invalid_input', problem);
      tx.put(GOV.constitution, 'constitution', a.constitution);
      // Open proposals were made under the old rules: CCF drops them.
      for (const [id, info] of tx.list<{ state: string }>(GOV.proposalsInfo)) {
        if (id !== proposalId && info.state === 'Open') tx.put(GOV.proposalsInfo, id, { ...info, state: 'Dropped' });
      }
    },
  },
  set_jwt_issuer: {
    validate: (a) => {
      if (!isObject(a) || !str(a.issuer)) return 'issuer must be a string';
      if (a.jwks !== undefined && (!isObject(a.jwks) || !Array.isArray(a.jwks.keys))) return 'jwks must be {keys: [...]}';
      if (a.jwks === undefined) return null;
      for (const [i, k] of ((a.jwks as { keys: unknown[] }).keys).entries()) {
        const shape = isObject(k) ? jwkShapeProblem(k, `jwks.keys[${i}]`) : `jwks.keys[${i}] must be an object`;
        if (shape) return shape;
      }
      // The node would refuse to store them (CCF's set_jwt_public_signing_keys): say why now, before any vote.
      return jwksProblem(a.jwks as { keys: unknown[] });
    },
    apply: (a, { tx }) => {
      tx.put(GOV.jwtIssuers, a.issuer, { auto_refresh: a.auto_refresh ?? false, ca_cert_bundle_name: a.ca_cert_bundle_name ?? null });
      for (const k of a.jwks?.keys ?? []) tx.put(GOV.jwtKeys, `${a.issuer} ${k.kid}`, k);
    },
  },
  remove_jwt_issuer: {
    validate: (a) => (isObject(a) && str(a.issuer) ? null : 'issuer must be a string'),
    apply: (a, { tx }) => {
      if (!tx.get(GOV.jwtIssuers, a.issuer)) throw new TesseraError('not_found', `no JWT issuer ${a.issuer}`);
      tx.delete(GOV.jwtIssuers, a.issuer);
      for (const [key] of tx.list(GOV.jwtKeys, `${a.issuer} `)) tx.delete(GOV.jwtKeys, key);
    },
  },
  set_node_function: {
    validate: (a, ctx) => {
      if (!isObject(a) || !str(a.name)) return 'name must be a string';
      if (a.kind === 'process') {
        if (a.dir !== undefined) return 'a process function is approved by its package digest, not a path (a path names no code): run tessera fn deploy DIR --propose, which uploads the package and proposes its digest';
        if (!str(a.package)) return 'a process function needs package: the SHA-256 digest of its uploaded package (tessera fn deploy DIR --propose)';
        if (a.app !== undefined && !str(a.app)) return 'app must be a string';
        return ctx.processes ? ctx.processes.check((a.app as string | undefined) ?? 'default', a.package as string, a.name as string) : 'this node runs no process functions';
      }
      if (a.kind !== 'builtin') return 'kind must be "builtin" or "process"';
      return ctx.builtins.has(a.name as string) ? null : `this node has no built-in function '${a.name}'`;
    },
    apply: (a, { tx, processes }) => {
      if (a.kind === 'process') return void processes!.deployIn(tx, a.app ?? 'default', a.package);
      tx.put(GOV.functions, a.name, { kind: a.kind, enabled: true });
    },
  },
  remove_node_function: {
    validate: (a, ctx) => {
      if (isObject(a) && a.kind === 'process') {
        if (!str(a.name)) return 'name must be a string';
        return ctx.processes ? ctx.processes.checkRemoval((a.app as string | undefined) ?? 'default', a.name as string) : 'this node runs no process functions';
      }
      return isObject(a) && str(a.name) && ctx.builtins.has(a.name as string) ? null : `this node has no built-in function '${String((a as { name?: unknown })?.name)}'`;
    },
    apply: (a, { tx, processes }) => {
      if (a.kind === 'process') return void processes!.removeIn(tx, a.app ?? 'default', a.name);
      tx.put(GOV.functions, a.name, { kind: 'builtin', enabled: false });
    },
  },
};
