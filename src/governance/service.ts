import { createHash, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import type { Principal, PrincipalService } from '../identity/principals.js';
import type { JsEngine, JsLimits } from '../sandbox/js/engine.js';
import type { Store, Tx } from '../store/types.js';
import { ACTIONS, type ActionContext } from './actions.js';
import type { CoseMessage, GovMessageType } from '../crypto/cose.js';
import { DEFAULT_CONSTITUTION } from './default-constitution.js';
import { GOV, type MemberInfo } from './tables.js';


const CONSTITUTION_PRELUDE = 'for (const k of Object.keys(H)) globalThis[k] = H[k];';

export type ProposalState = 'Open' | 'Accepted' | 'Withdrawn' | 'Rejected' | 'Failed' | 'Dropped';

interface ProposalInfo {
  proposer_id: string;
  state: ProposalState;
  /** member id → ballot source */
  ballots: Record<string, string>;
  final_votes?: Record<string, boolean>;
  vote_failures?: Record<string, { reason: string }>;
  failure?: { reason: string };
}

export interface ProposalView {
  proposalId: string;
  proposerId: string;
  proposalState: ProposalState;
  ballotCount: number;
  finalVotes?: Record<string, boolean>;
  voteFailures?: Record<string, { reason: string }>;
  failure?: { reason: string };
}

export interface GovernanceOptions {
  store: Store;
  principals: PrincipalService;
  engine: JsEngine;
  builtins: Set<string>;
  logger: Logger;
  processes?: ActionContext['processes'];
  limits?: Partial<JsLimits>;
  /** How many recent envelopes are kept for replay detection. */
  replayWindow?: number;
  /** How far ahead of the node's clock a created_at may be, in seconds (default 300). */
  maxClockSkewS?: number;
  /** The node's clock, in milliseconds since the epoch (tests). */
  now?: () => number;
}

/** The default allowance for members' clocks running ahead of the node's: 5 minutes. */
export const DEFAULT_MAX_CLOCK_SKEW_S = 300;

const bad = (message: string, ccf: string) => new TesseraError('invalid_input', message, { ccf });
const RESOLUTIONS = new Set(['Open', 'Accepted', 'Rejected']);

/**
 * CCF-style governance: members sign proposals and ballots (COSE Sign1); the constitution, run in the
 * sandbox, validates proposals, resolves them from the ballots' votes, and applies accepted ones.
 * Each call is one transaction: a proposal's state, its ballot and the changes it applies commit
 * together or not at all.
 */
export class GovernanceService {
  constructor(private readonly opts: GovernanceOptions) {}

  private get limits(): Partial<JsLimits> {
    return { heapMiB: 32, cpuMs: 1000, ...this.opts.limits };
  }

  private constitution(tx: Tx): string {
    return tx.get<string>(GOV.constitution, 'constitution') ?? DEFAULT_CONSTITUTION;
  }

  /** The member who signed `msg`, after checking the signature, the kid and replays; records the envelope. */
  authenticate(tx: Tx, msg: CoseMessage, expected: GovMessageType, allowAccepted = false): Principal {
    if (msg.type !== expected) throw bad(`this endpoint takes a '${expected}' message, not '${msg.type}'`, 'InvalidInput');
    const member = this.opts.principals.byCertIdIn(tx, msg.kid);
    if (!member || member.role !== 'member') throw new TesseraError('unauthenticated', `kid ${msg.kid} is not a member of this service`, { ccf: 'InvalidAuthenticationInfo' });
    const status = tx.get<MemberInfo>(GOV.membersInfo, member.certId)?.status ?? 'Active';
    if (status !== 'Active' && !(allowAccepted && status === 'Accepted')) {
      throw new TesseraError('permission_denied', `member ${member.name} is ${status}, not Active: it must acknowledge the service state first`);
    }
    if (!msg.verify(new X509Certificate(member.certPem))) {
      throw new TesseraError('unauthenticated', `the COSE signature does not verify with the certificate of member ${member.name}`, { ccf: 'InvalidAuthenticationInfo' });
    }
    // A created_at beyond the node's clock (plus a small skew) is refused before it is recorded: one member's
    // envelope from the far future would otherwise raise the median below which everyone else's are refused.
    const now = Math.floor((this.opts.now?.() ?? Date.now()) / 1000);
    const latest = now + (this.opts.maxClockSkewS ?? DEFAULT_MAX_CLOCK_SKEW_S);
    if (msg.createdAt > latest) {
      throw bad(`created_at ${msg.createdAt} is ${msg.createdAt - now} s ahead of this node's clock (${now}); at most ${latest - now} s is allowed: sign it again with the current time`, 'InvalidCreatedAt');
    }
    const replayKey = `${String(msg.createdAt).padStart(10, '0')}:${createHash('sha256').update(msg.signature).digest('hex')}`;
    if (tx.get(GOV.coseRecent, replayKey)) throw bad('this signed request was already submitted', 'ProposalReplay');
    const recent = tx.list<number>(GOV.coseRecent);
    // Envelopes recorded before the check above may lie in the future: they do not count towards the median.
    const times = recent.map(([, t]) => t).filter((t) => t <= latest);
    if (times.length > 0) {
      const median = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
      if (msg.createdAt < median) throw bad(`created_at ${msg.createdAt} is older than the recent requests (median ${median}); sign it again now`, 'ProposalCreatedTooLongAgo');
    }
    tx.put(GOV.coseRecent, replayKey, msg.createdAt);
    const window = this.opts.replayWindow ?? 100;
    for (const [key] of recent.slice(0, Math.max(0, recent.length + 1 - window))) tx.delete(GOV.coseRecent, key);
    return member;
  }

  private activeMembers(tx: Tx): number {
    return this.opts.principals.listIn(tx).filter((p) => p.role === 'member' && (tx.get<MemberInfo>(GOV.membersInfo, p.certId)?.status ?? 'Active') === 'Active').length;
  }

  /** Checks a constitution exports validate, resolve and apply. */
  async checkConstitution(source: string): Promise<string | null> {
    try {
      const kinds = await this.opts.engine.run({
        modules: { '/constitution.js': source, '/probe.js': "import * as c from './constitution.js'; export function probe() { return [typeof c.validate, typeof c.resolve, typeof c.apply]; }" },
        entry: '/probe.js',
        exportName: 'probe',
        limits: this.limits,
      });
      const missing = ['validate', 'resolve', 'apply'].filter((_, i) => (kinds as string[])[i] !== 'function');
      return missing.length ? `the constitution must export validate, resolve and apply; it lacks ${missing.join(', ')}` : null;
    } catch (err) {
      return `the constitution does not load: ${(err as Error).message}`;
    }
  }

  private async runConstitution(tx: Tx, fn: 'validate' | 'resolve' | 'apply', args: unknown[], host: Record<string, (...a: any[]) => unknown>) {
    // The constitution calls its host functions as globals: the prelude hands out the boundary's typed copies.
    return this.opts.engine.run({ modules: { '/constitution.js': this.constitution(tx) }, entry: '/constitution.js', exportName: fn, args, host, prelude: CONSTITUTION_PRELUDE, limits: this.limits });
  }

  private async validate(tx: Tx, proposal: string): Promise<void> {
    let parsed: { actions?: Array<{ name?: string; args?: { constitution?: unknown } }> } = {};
    try {
      parsed = JSON.parse(proposal);
    } catch {
      /* the constitution reports it */
    }
    // set_constitution is checked by running the candidate, which cannot happen inside a synchronous host call.
    const checked = new Map<string, string | null>();
    for (const a of parsed?.actions ?? []) {
      if (a?.name === 'set_constitution' && typeof a.args?.constitution === 'string') checked.set(a.args.constitution, await this.checkConstitution(a.args.constitution));
    }
    const ctx = { principals: this.opts.principals, builtins: this.opts.builtins, processes: this.opts.processes, constitutionCheck: (s: string) => (checked.has(s) ? checked.get(s)! : 'the constitution was not checked') };
    const result = (await this.runConstitution(tx, 'validate', [proposal], {
      tessera_validate_action: (name: string, argsJson: string) => {
        const action = ACTIONS[name];
        if (!action) return `${name}: no such action`;
        const problem = action.validate(JSON.parse(argsJson), ctx);
        return problem ? `${name}: ${problem}` : null;
      },
      tessera_active_members: () => this.activeMembers(tx),
    })) as { valid?: boolean; description?: string } | undefined;
    if (!result?.valid) throw bad(`the proposal failed to validate: ${result?.description ?? 'validate returned nothing'}`, 'ProposalFailedToValidate');
  }

  /** Runs every ballot, then the constitution's resolve, and on Accepted its apply; updates `info` in place. */
  private async resolve(tx: Tx, proposalId: string, proposal: string, info: ProposalInfo): Promise<void> {
    const votes: Array<{ member_id: string; vote: boolean }> = [];
    const failures: Record<string, { reason: string }> = {};
    for (const [memberId, ballot] of Object.entries(info.ballots)) {
      try {
        const vote = await this.opts.engine.run({ modules: { '/ballot.js': ballot }, entry: '/ballot.js', exportName: 'vote', args: [proposal, info.proposer_id], limits: this.limits });
        votes.push({ member_id: memberId, vote: Boolean(vote) });
      } catch (err) {
        failures[memberId] = { reason: (err as Error).message };
      }
    }
    const state = String(await this.runConstitution(tx, 'resolve', [proposal, info.proposer_id, votes, proposalId], { tessera_active_members: () => this.activeMembers(tx) }));
    if (Object.keys(failures).length) info.vote_failures = failures;
    if (!RESOLUTIONS.has(state)) {
      info.state = 'Failed';
      info.failure = { reason: `resolve returned '${state}'` };
      return;
    }
    if (state !== 'Accepted') {
      info.state = state as ProposalState;
      return;
    }
    info.final_votes = Object.fromEntries(votes.map((v) => [v.member_id, v.vote]));
    const queued: Array<{ name: string; args: unknown }> = [];
    try {
      await this.runConstitution(tx, 'apply', [proposal, proposalId], {
        tessera_apply_action: (name: string, argsJson: string) => void queued.push({ name, args: JSON.parse(argsJson) }),
        tessera_active_members: () => this.activeMembers(tx),
      });
      const rollback = tx.savepoint();
      try {
        const ctx: ActionContext = { tx, principals: this.opts.principals, proposalId, builtins: this.opts.builtins, processes: this.opts.processes, constitutionCheck: () => null };
        for (const a of queued) {
          const action = ACTIONS[a.name];
          if (!action) throw new TesseraError('invalid_input', `${a.name}: no such action`);
          action.apply(a.args, ctx);
        }
        info.state = 'Accepted';
      } catch (err) {
        rollback();
        throw err;
      }
    } catch (err) {
      info.state = 'Failed';
      info.failure = { reason: (err as Error).message };
    }
  }

  private view(proposalId: string, info: ProposalInfo): ProposalView {
    return {
      proposalId,
      proposerId: info.proposer_id,
      proposalState: info.state,
      ballotCount: Object.keys(info.ballots).length,
      ...(info.final_votes ? { finalVotes: info.final_votes } : {}),
      ...(info.vote_failures ? { voteFailures: info.vote_failures } : {}),
      ...(info.failure ? { failure: info.failure } : {}),
    };
  }

  /** Runs `work` in one optimistic transaction and commits it; the sequence number is the transaction's. */
  private async transact<T>(work: (tx: Tx) => Promise<T>): Promise<{ result: T; seqno: number | null }> {
    for (let attempt = 0; ; attempt++) {
      const tx = this.opts.store.begin();
      const result = await work(tx);
      try {
        return { result, seqno: tx.commit() };
      } catch (err) {
        if ((err as TesseraError).code !== 'conflict' || attempt >= 5) throw err;
      }
    }
  }

  async propose(msg: CoseMessage) {
    return this.transact(async (tx) => {
      const member = this.authenticate(tx, msg, 'proposal');
      const proposal = msg.payload.toString('utf8');
      await this.validate(tx, proposal);
      const proposalId = createHash('sha256').update(msg.envelope).digest('hex');
      const info: ProposalInfo = { proposer_id: member.certId, state: 'Open', ballots: {} };
      tx.put(GOV.proposals, proposalId, proposal);
      // A proposal is resolved as soon as it exists: a constitution may accept it outright.
      await this.resolve(tx, proposalId, proposal, info);
      tx.put(GOV.proposalsInfo, proposalId, info);
      return this.view(proposalId, info);
    });
  }

  async ballot(msg: CoseMessage, proposalId: string, memberId: string) {
    return this.transact(async (tx) => {
      const member = this.authenticate(tx, msg, 'ballot');
      if (member.certId !== memberId) throw new TesseraError('permission_denied', `the ballot is signed by ${member.certId}, not by member ${memberId}`);
      if (msg.proposalId !== proposalId) throw bad('the proposal_id in the COSE header does not match the URL', 'InvalidInput');
      const { proposal, info } = this.mustGetProposal(tx, proposalId);
      if (info.state !== 'Open') throw bad(`proposal ${proposalId} is ${info.state}, not Open`, 'ProposalNotOpen');
      let body: { ballot?: unknown };
      try {
        body = JSON.parse(msg.payload.toString('utf8'));
      } catch {
        throw bad('a ballot is {"ballot": "<JS module exporting vote>"}', 'InvalidInput');
      }
      if (typeof body.ballot !== 'string') throw bad('a ballot is {"ballot": "<JS module exporting vote>"}', 'InvalidInput');
      const existing = info.ballots[memberId];
      if (existing !== undefined) {
        if (existing === body.ballot) return this.view(proposalId, info);
        throw bad(`member ${member.name} has already voted on proposal ${proposalId}`, 'VoteAlreadyExists');
      }
      // A ballot that cannot run is refused now, rather than counted as a failure later.
      try {
        await this.opts.engine.run({ modules: { '/ballot.js': body.ballot }, entry: '/ballot.js', exportName: 'vote', args: [proposal, info.proposer_id], limits: this.limits });
      } catch (err) {
        throw bad(`the ballot failed: ${(err as Error).message}`, 'InvalidInput');
      }
      info.ballots[memberId] = body.ballot;
      await this.resolve(tx, proposalId, proposal, info);
      tx.put(GOV.proposalsInfo, proposalId, info);
      return this.view(proposalId, info);
    });
  }

  async withdraw(msg: CoseMessage, proposalId: string) {
    return this.transact(async (tx) => {
      const member = this.authenticate(tx, msg, 'withdrawal');
      if (msg.proposalId !== proposalId) throw bad('the proposal_id in the COSE header does not match the URL', 'InvalidInput');
      const { info } = this.mustGetProposal(tx, proposalId);
      if (info.proposer_id !== member.certId) throw new TesseraError('permission_denied', 'only the proposer may withdraw a proposal');
      if (info.state !== 'Open') throw bad(`proposal ${proposalId} is ${info.state}, not Open`, 'ProposalNotOpen');
      info.state = 'Withdrawn';
      tx.put(GOV.proposalsInfo, proposalId, info);
      return this.view(proposalId, info);
    });
  }

  /** A member's acknowledgement: Accepted → Active. */
  async ack(msg: CoseMessage, memberId: string) {
    return this.transact(async (tx) => {
      const member = this.authenticate(tx, msg, 'ack', true);
      if (member.certId !== memberId) throw new TesseraError('permission_denied', 'a member acknowledges only for itself');
      tx.put<MemberInfo>(GOV.membersInfo, memberId, { ...(tx.get<MemberInfo>(GOV.membersInfo, memberId) ?? {}), status: 'Active' });
      return { memberId, status: 'Active' as const };
    });
  }

  getProposal(proposalId: string): ProposalView {
    return this.opts.store.read((tx) => this.view(proposalId, this.mustGetProposal(tx as Tx, proposalId).info));
  }

  getProposalActions(proposalId: string): unknown {
    return this.opts.store.read((tx) => JSON.parse(this.mustGetProposal(tx as Tx, proposalId).proposal));
  }

  getBallot(proposalId: string, memberId: string): string {
    const ballot = this.opts.store.read((tx) => this.mustGetProposal(tx as Tx, proposalId).info.ballots[memberId]);
    if (ballot === undefined) throw new TesseraError('not_found', `member ${memberId} has not voted on proposal ${proposalId}`, { ccf: 'VoteNotFound' });
    return ballot;
  }

  listProposals(): ProposalView[] {
    return this.opts.store.read((tx) => tx.list<ProposalInfo>(GOV.proposalsInfo).map(([id, info]) => this.view(id, info)));
  }

  modules(): string[] {
    return this.opts.store.read((tx) => tx.list<string>(GOV.modules).map(([name]) => name));
  }

  module(name: string): string | undefined {
    return this.opts.store.read((tx) => tx.get<string>(GOV.modules, name));
  }

  endpoints(): Array<[string, Record<string, unknown>]> {
    return this.opts.store.read((tx) => tx.list<Record<string, unknown>>(GOV.endpoints));
  }

  private mustGetProposal(tx: Tx, proposalId: string): { proposal: string; info: ProposalInfo } {
    const proposal = tx.get<string>(GOV.proposals, proposalId);
    const info = tx.get<ProposalInfo>(GOV.proposalsInfo, proposalId);
    if (proposal === undefined || !info) throw new TesseraError('not_found', `no proposal ${proposalId}`, { ccf: 'ProposalNotFound' });
    return { proposal, info };
  }
}
