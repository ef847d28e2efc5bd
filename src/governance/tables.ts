// Governance state, in CCF's public table names, so it is readable in the ledger as in CCF.
export const GOV = {
  proposals: 'public:ccf.gov.proposals',
  proposalsInfo: 'public:ccf.gov.proposals_info',
  constitution: 'public:ccf.gov.constitution',
  membersInfo: 'public:ccf.gov.members.info',
  usersInfo: 'public:ccf.gov.users.info',
  modules: 'public:ccf.gov.modules',
  endpoints: 'public:ccf.gov.endpoints',
  interpreterFlush: 'public:ccf.gov.interpreter.flush',
  jwtIssuers: 'public:ccf.gov.jwt.issuers',
  jwtKeys: 'public:ccf.gov.jwt.public_signing_keys',
  coseRecent: 'public:ccf.gov.cose_recent_proposals',
  functions: 'public:tessera.gov.functions',
} as const;

export type MemberStatus = 'Accepted' | 'Active';

export interface MemberInfo {
  status: MemberStatus;
  member_data?: unknown;
}
