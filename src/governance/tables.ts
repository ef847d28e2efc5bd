// Governance state, in CCF's public table names, so it is readable in the ledger as in CCF.
export const GOV = {
  proposals: 'public:ccf.gov.proposals',
  proposalsInfo: 'public:ccf.gov.proposals_info',
  constitution: 'public:ccf.gov.constitution',
  membersInfo: 'public:ccf.gov.members.info',
  /** Members and users are Tessera principals; governance code sees them as these two CCF tables (ccf-kv.ts). */
  membersCerts: 'public:ccf.gov.members.certs',
  usersCerts: 'public:ccf.gov.users.certs',
  usersInfo: 'public:ccf.gov.users.info',
  modules: 'public:ccf.gov.modules',
  endpoints: 'public:ccf.gov.endpoints',
  interpreterFlush: 'public:ccf.gov.interpreter.flush',
  /** CCF's JS runtime options (set_js_runtime_options), one value under the key 'options'; see JsRuntimeOptions. */
  jsRuntimeOptions: 'public:ccf.gov.js_runtime_options',
  /** The latest ledger signature, computed (read-only to governance). */
  signatures: 'public:ccf.internal.signatures',
  /** The service's state, computed (read-only to governance): a Tessera service is Open from init. */
  serviceInfo: 'public:ccf.gov.service.info',
  jwtIssuers: 'public:ccf.gov.jwt.issuers',
  jwtKeys: 'public:ccf.gov.jwt.public_signing_keys',
  coseRecent: 'public:ccf.gov.cose_recent_proposals',
  /** The service's nodes and their status (nodes.ts): Pending, Trusted or Retired, as in CCF. */
  nodesInfo: 'public:ccf.gov.nodes.info',
  functions: 'public:tessera.gov.functions',
} as const;

export type MemberStatus = 'Accepted' | 'Active';

export interface MemberInfo {
  status: MemberStatus;
  member_data?: unknown;
}

/** CCF's JSRuntimeOptions (include/ccf/service/tables/jsengine.h), as set_js_runtime_options stores them. */
export interface JsRuntimeOptions {
  max_heap_bytes: number;
  max_stack_bytes: number;
  max_execution_time_ms: number;
  log_exception_details?: boolean;
  return_exception_details?: boolean;
  max_cached_interpreters?: number;
}
