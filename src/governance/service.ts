import { createHash, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import type { Principal, PrincipalService } from '../identity/principals.js';
import type { JsEngine, JsLimits } from '../sandbox/js/engine.js';
import type { Store, Tx } from '../store/types.js';
import { ACTIONS, type ActionContext } from './actions.js';
import type { CoseMessage, GovMessageType } from '../crypto/cose.js';
import { DEFAULT_CONSTITUTION } from './default-constitution.js';
import { GOV_PRELUDE, govHost } from './ccf-global.js';
import type { GovKvDeps, GovPhase } from './ccf-kv.js';
import { GOV, type JsRuntimeOptions, type MemberInfo } from './tables.js';
import type { EvidenceCheck } from './nodes.js';

/** What the dry run of a proposed constitution runs validate, resolve and apply on: a proposal of no actions. */
const PROBE_PROPOSAL = '{"actions":[]}';
const PROBE_ID = '0'.repeat(64);
/** CCF's name for a candidate constitution in its messages (validateConstitution, src/js/extensions/ccf/gov.cpp). */
const CANDIDATE = 'proposed constitution';
/** The arguments CCF requires of each export (required, optional), checked by their declared length. */
const EXPORT_ARGS: Array<[string, string[], string[]]> = [
  ['apply', ['proposal', 'proposerId'], []],
  ['resolve', ['proposal', 'proposerId', 'votes'], ['proposalId']],
  ['validate', ['input'], []],
];

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
  /** The latest ledger signature (public:ccf.internal.signatures to governance code). */
  lastSignature?: () => { seqno: number; root: string } | null;
  /** The service certificate (public:ccf.gov.service.info to governance code). */
  serviceCertPem?: string;
  /** The SDK's evidence check, for transition_node_to_trusted (nodes.ts). */
  checkEvidence?: EvidenceCheck;
}

/** Constitution sources checked for this request (load, exports, dry run): source → problem, or null if fine. */
type Checks = Map<string, string | null>;

/** The default allowance for members' clocks running ahead of the node's: 5 minutes. */
export const DEFAULT_MAX_CLOCK_SKEW_S = 300;

const RESOLUTIONS = new Set(['Open', 'Accepted', 'Rejected']);

/**
 * CCF-style governance: members sign proposals and ballots (COSE Sign1); the constitution, run in the
 * sandbox, validates proposals, resolves them from the ballots' votes, and applies accepted ones.
 * Each call is one transaction: a proposal's state, its ballot and the changes it applies commit
 * together or not at all.
 */
export class GovernanceService {
  constructor(private readonly opts: GovernanceOptions) {}

  /** Governance code's limits: set_js_runtime_options may raise them but never lower them (CCF's NO_LOWER_THAN_DEFAULTS). */
  private limitsIn(tx: Tx): JsLimits {
    const base = { heapMiB: 32, cpuMs: 1000, ...this.opts.limits };
    const o = tx.get<JsRuntimeOptions>(GOV.jsRuntimeOptions, 'options');
    if (!o) return base;
    return { heapMiB: Math.max(base.heapMiB, Math.ceil((o.max_heap_bytes ?? 0) / 1048576)), cpuMs: Math.max(base.cpuMs, o.max_execution_time_ms ?? 0) };
  }

  private deps(tx: Tx, checks: Checks): GovKvDeps {
    return {
      tx,
      principals: this.opts.principals,
      lastSignature: this.opts.lastSignature,
      serviceCertPem: this.opts.serviceCertPem,
      constitutionProblem: (source) =>
        checks.has(source) ? checks.get(source)! : `${CANDIDATE} was not checked: a constitution is checked when it is a string argument "constitution" of an action of the proposal`,
    };
  }

  private constitution(tx: Tx): string {
    return tx.get<string>(GOV.constitution, 'constitution') ?? DEFAULT_CONSTITUTION;
  }

  /** The member who signed `msg`, after checking the signature, the kid and replays; records the envelope. */
  authenticate(tx: Tx, msg: CoseMessage, expected: GovMessageType, allowAccepted = false): Principal {
    if (msg.type !== expected) throw new TesseraError('invalid_input', `this endpoint takes a '${expected}' message, not '${msg.type}'`);
    const member = this.opts.principals.byCertIdIn(tx, msg.kid);
    if (!member || member.role !== 'member') throw new TesseraError('unauthenticated', `kid ${msg.kid} is not a member of this service`);
    const status = tx.get<MemberInfo>(GOV.membersInfo, member.certId)?.status ?? 'Active';
    if (status !== 'Active' && !(allowAccepted && status === 'Accepted')) {
      throw new TesseraError('permission_denied', `member ${member.name} is ${status}, not Active: it must acknowledge the service state first (tessera gov ack -i <its folder>)`);
    }
    if (!msg.verify(new X509Certificate(member.certPem))) {
      throw new TesseraError('unauthenticated', `the COSE signature does not verify with the certificate of member ${member.name}`);
    }
    // A created_at beyond the node's clock (plus a small skew) is refused before it is recorded: one member's
    // envelope from the far future would otherwise raise the median below which everyone else's are refused.
    const now = Math.floor((this.opts.now?.() ?? Date.now()) / 1000);
    const latest = now + (this.opts.maxClockSkewS ?? DEFAULT_MAX_CLOCK_SKEW_S);
    if (msg.createdAt > latest) {
      throw new TesseraError('invalid_created_at', `created_at ${msg.createdAt} is ${msg.createdAt - now} s ahead of this node's clock (${now}); at most ${latest - now} s is allowed: sign it again with the current time`);
    }
    const replayKey = `${String(msg.createdAt).padStart(10, '0')}:${createHash('sha256').update(msg.signature).digest('hex')}`;
    if (tx.get(GOV.coseRecent, replayKey)) throw new TesseraError('proposal_replay', 'this signed request was already submitted');
    const recent = tx.list<number>(GOV.coseRecent);
    // Envelopes recorded before the check above may lie in the future: they do not count towards the median.
    const times = recent.map(([, t]) => t).filter((t) => t <= latest);
    if (times.length > 0) {
      const median = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
      if (msg.createdAt < median) throw new TesseraError('proposal_created_too_long_ago', `created_at ${msg.createdAt} is older than the recent requests (median ${median}); sign it again now`);
    }
    tx.put(GOV.coseRecent, replayKey, msg.createdAt);
    const window = this.opts.replayWindow ?? 100;
    for (const [key] of recent.slice(0, Math.max(0, recent.length + 1 - window))) tx.delete(GOV.coseRecent, key);
    return member;
  }

  private activeMembers(tx: Tx): number {
    return this.opts.principals.listIn(tx).filter((p) => p.role === 'member' && (tx.get<MemberInfo>(GOV.membersInfo, p.certId)?.status ?? 'Active') === 'Active').length;
  }

  /**
   * Every constitution a proposal carries (any action's string argument "constitution"), checked before the
   * proposal is validated or applied: the host calls that need the result (ccf.gov.validateConstitution, a
   * write to the constitution table) are synchronous, and a check runs the candidate in its own isolate.
   */
  private async checkCandidates(tx: Tx, proposal: string, proposerId: string): Promise<Checks> {
    const checks: Checks = new Map();
    let parsed: { actions?: Array<{ args?: { constitution?: unknown } }> } | undefined;
    try {
      parsed = JSON.parse(proposal);
    } catch {
      return checks;
    }
    for (const a of Array.isArray(parsed?.actions) ? parsed.actions : []) {
      const source = a?.args?.constitution;
      if (typeof source === 'string' && !checks.has(source)) checks.set(source, await this.checkConstitution(tx, source, proposerId));
    }
    return checks;
  }

  /**
   * Whether `source` can govern: it loads, exports validate, resolve and apply with the arguments CCF requires
   * (CCF's validateConstitution, with its messages), and a dry run of all three on a proposal of no actions,
   * against the current state, neither throws nor returns what the node cannot use. Nothing the dry run
   * writes is kept. A constitution that fails this would refuse every later proposal, including its own
   * replacement: governance would be locked for good.
   */
  async checkConstitution(tx: Tx, source: string, proposerId: string): Promise<string | null> {
    if (source.length === 0) return 'constitution is empty';
    const probe = `import * as c from './constitution.js';
export function probe() { return ${JSON.stringify(EXPORT_ARGS.map(([n]) => n))}.map((n) => [n in c, typeof c[n], typeof c[n] === 'function' ? c[n].length : 0]); }`;
    let shape: Array<[boolean, string, number]>;
    const rollback = tx.savepoint();
    try {
      try {
        shape = (await this.opts.engine.run({
          modules: { '/constitution.js': source, '/probe.js': probe },
          entry: '/probe.js',
          exportName: 'probe',
          prelude: GOV_PRELUDE,
          host: govHost({ deps: this.deps(tx, new Map()), phase: 'ro', logger: this.opts.logger }),
          limits: this.limitsIn(tx),
          kind: 'governance',
        })) as Array<[boolean, string, number]>;
      } catch (err) {
        const e = err as TesseraError;
        // The engine reports module failures as CCF does, wrapped once per importer (the probe imports the
        // candidate); the member is told what was wrong with the candidate itself.
        const compiled = /Failed to compile module '[^']*': ([\s\S]*)$/.exec(e.message);
        const executed = /Failed to execute [^\s:]+: ([\s\S]*)$/.exec(e.message);
        const reason = compiled
          ? `Failed to compile ${CANDIDATE}: ${compiled[1]}`
          : executed
            ? `Failed to execute ${CANDIDATE}: ${executed[1]}`
            : /SyntaxError|compile/i.test(e.message)
              ? `Failed to compile ${CANDIDATE}: ${reasonOf(e)}`
              : `Failed to execute ${CANDIDATE}: ${reasonOf(e)}`;
        return `${CANDIDATE} does not export a function named apply: ${reason}`;
      }
      for (const [i, [name, required, optional]] of EXPORT_ARGS.entries()) {
        const [present, kind, length] = shape[i];
        if (!present) return `${CANDIDATE} does not export a function named ${name}: Failed to find export '${name}' in module '${CANDIDATE}'`;
        if (kind !== 'function') return `${CANDIDATE} does not export a function named ${name}: Export '${name}' of module '${CANDIDATE}' is not a function`;
        const plural = (n: number) => (n === 1 ? 'arg' : 'args');
        const actual = `${CANDIDATE} exports function ${name} with ${length} ${plural(length)}`;
        if (optional.length === 0 && length !== required.length) return `${actual}, expected ${required.length} ${plural(required.length)} (${required.join(', ')})`;
        if (optional.length > 0 && (length < required.length || length > required.length + optional.length)) {
          return `${actual}, expected between ${required.length} and ${required.length + optional.length} args (${required.join(', ')}[, ${optional.join(', ')}])`;
        }
      }
      // The dry run, with the ccf global and the access of each phase, inside this transaction (undone below).
      const noChecks: Checks = new Map();
      const run = async (fn: 'validate' | 'resolve' | 'apply', args: unknown[], phase: GovPhase) => {
        try {
          return { value: await this.runConstitution(tx, source, fn, args, phase, noChecks, { proposalId: PROBE_ID }) };
        } catch (err) {
          return { error: `${CANDIDATE} failed a dry run on a proposal of no actions: ${fn}() threw ${reasonOf(err as TesseraError)}` };
        }
      };
      const validated = await run('validate', [PROBE_PROPOSAL], 'ro');
      if ('error' in validated) return validated.error!;
      if (typeof validated.value !== 'object' || validated.value === null) return `${CANDIDATE} failed a dry run on a proposal of no actions: validate() did not return an object`;
      const resolved = await run('resolve', [PROBE_PROPOSAL, proposerId, [], PROBE_ID], 'ro');
      if ('error' in resolved) return resolved.error!;
      if (!RESOLUTIONS.has(String(resolved.value))) return `${CANDIDATE} failed a dry run on a proposal of no actions: resolve() returned invalid status value: "${String(resolved.value)}"`;
      const applied = await run('apply', [PROBE_PROPOSAL, PROBE_ID], 'rw');
      if ('error' in applied) return applied.error!;
      return null;
    } finally {
      rollback();
    }
  }

  /** Calls the constitution's `fn` (the stored one, or `source`) with the ccf global of `phase` and Tessera's own host functions. */
  private async runConstitution(tx: Tx, source: string | null, fn: 'validate' | 'resolve' | 'apply', args: unknown[], phase: GovPhase, checks: Checks, extra: { proposalId?: string; host?: Record<string, (...a: any[]) => unknown> } = {}) {
    const host = { ...govHost({ deps: this.deps(tx, checks), phase, logger: this.opts.logger, proposalId: extra.proposalId }), tessera_active_members: () => this.activeMembers(tx), ...extra.host };
    return this.opts.engine.run({ modules: { '/constitution.js': source ?? this.constitution(tx) }, entry: '/constitution.js', exportName: fn, args, host, prelude: GOV_PRELUDE, limits: this.limitsIn(tx), kind: 'governance' });
  }

  private async validate(tx: Tx, proposal: string, checks: Checks): Promise<void> {
    const ctx = { tx, serviceCertPem: this.opts.serviceCertPem, checkEvidence: this.opts.checkEvidence, principals: this.opts.principals, builtins: this.opts.builtins, processes: this.opts.processes, constitutionCheck: (s: string) => this.deps(tx, checks).constitutionProblem(s) };
    let result: unknown;
    try {
      result = await this.runConstitution(tx, null, 'validate', [proposal], 'ro', checks, {
        host: {
          tessera_validate_action: (name: string, argsJson: string) => {
            const action = ACTIONS[name];
            if (!action) return `${name}: no such action`;
            const problem = action.validate(JSON.parse(argsJson), ctx);
            return problem ? `${name}: ${problem}` : null;
          },
        },
      });
    } catch (err) {
      // CCF: a validate that throws is the node's failure, not the proposal's (proposals.h).
      throw new TesseraError('internal', `Failed to execute validation: ${reasonOf(err as TesseraError)}`);
    }
    if (typeof result !== 'object' || result === null) throw new TesseraError('internal', 'Validation failed to return an object');
    const { valid, description } = result as { valid?: unknown; description?: unknown };
    if (valid !== true) throw new TesseraError('proposal_failed_to_validate', `Proposal failed to validate: ${typeof description === 'string' ? description : ''}`);
    // Whatever the constitution says, a proposal naming a constitution that would lock governance is refused.
    for (const [, problem] of checks) if (problem) throw new TesseraError('proposal_failed_to_validate', `Proposal failed to validate: ${problem}`);
  }

  /** Runs every ballot, then the constitution's resolve, and on Accepted its apply; updates `info` in place. */
  private async resolve(tx: Tx, proposalId: string, proposal: string, info: ProposalInfo, checks: Checks): Promise<void> {
    const votes: Array<{ member_id: string; vote: boolean }> = [];
    const failures: Record<string, { reason: string }> = {};
    for (const [memberId, ballot] of Object.entries(info.ballots)) {
      try {
        votes.push({ member_id: memberId, vote: (await this.runBallot(tx, ballot, proposal, info.proposer_id)) === true });
      } catch (err) {
        failures[memberId] = { reason: reasonOf(err as TesseraError) };
      }
    }
    if (Object.keys(failures).length) info.vote_failures = failures;
    let state: string;
    try {
      state = String(await this.runConstitution(tx, null, 'resolve', [proposal, info.proposer_id, votes, proposalId], 'ro', checks));
    } catch (err) {
      info.state = 'Failed';
      info.failure = { reason: `Failed to resolve(): ${reasonOf(err as TesseraError)}` };
      return;
    }
    if (!RESOLUTIONS.has(state)) {
      info.state = 'Failed';
      info.failure = { reason: `resolve() returned invalid status value: "${state}"` };
      return;
    }
    if (state !== 'Accepted') {
      info.state = state as ProposalState;
      return;
    }
    info.final_votes = Object.fromEntries(votes.map((v) => [v.member_id, v.vote]));
    // apply writes straight into this transaction, through ccf.kv and through Tessera's actions; if it throws,
    // everything it wrote is undone, so a Failed proposal changes nothing.
    const rollback = tx.savepoint();
    try {
      const ctx: ActionContext = {
        tx,
        serviceCertPem: this.opts.serviceCertPem,
        checkEvidence: this.opts.checkEvidence,
        principals: this.opts.principals,
        proposalId,
        builtins: this.opts.builtins,
        processes: this.opts.processes,
        constitutionCheck: (s) => this.deps(tx, checks).constitutionProblem(s),
      };
      await this.runConstitution(tx, null, 'apply', [proposal, proposalId], 'rw', checks, {
        proposalId,
        host: {
          tessera_apply_action: (name: string, argsJson: string) => {
            const action = ACTIONS[name];
            if (!action) throw new TesseraError('invalid_input', `${name}: no such action`);
            action.apply(JSON.parse(argsJson), ctx);
          },
        },
      });
      info.state = 'Accepted';
    } catch (err) {
      rollback();
      info.state = 'Failed';
      info.failure = { reason: `Failed to apply(): ${reasonOf(err as TesseraError)}` };
    }
  }

  /** A ballot's vote, run as CCF runs ballots: with the ccf global of read-only governance. */
  private runBallot(tx: Tx, ballot: string, proposal: string, proposerId: string): Promise<unknown> {
    const host = govHost({ deps: this.deps(tx, new Map()), phase: 'ro', logger: this.opts.logger });
    return this.opts.engine.run({ modules: { '/ballot.js': ballot }, entry: '/ballot.js', exportName: 'vote', args: [proposal, proposerId], host, prelude: GOV_PRELUDE, limits: this.limitsIn(tx), kind: 'governance' });
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
      const checks = await this.checkCandidates(tx, proposal, member.certId);
      await this.validate(tx, proposal, checks);
      const proposalId = createHash('sha256').update(msg.envelope).digest('hex');
      const info: ProposalInfo = { proposer_id: member.certId, state: 'Open', ballots: {} };
      tx.put(GOV.proposals, proposalId, proposal);
      tx.put(GOV.proposalsInfo, proposalId, info);
      // A proposal is resolved as soon as it exists: a constitution may accept it outright.
      await this.resolve(tx, proposalId, proposal, info, checks);
      // CCF: one that fails at once is not recorded at all; the caller gets the failure (proposals.h).
      if (info.state === 'Failed') throw new TesseraError('internal', info.failure?.reason ?? 'the proposal failed');
      tx.put(GOV.proposalsInfo, proposalId, info);
      return this.view(proposalId, info);
    });
  }

  async ballot(msg: CoseMessage, proposalId: string, memberId: string) {
    return this.transact(async (tx) => {
      const member = this.authenticate(tx, msg, 'ballot');
      if (member.certId !== memberId) throw new TesseraError('permission_denied', `the ballot is signed by ${member.certId}, not by member ${memberId}`);
      if (msg.proposalId !== proposalId) throw new TesseraError('invalid_input', 'the proposal_id in the COSE header does not match the URL');
      const { proposal, info } = this.mustGetProposal(tx, proposalId);
      if (info.state !== 'Open') throw new TesseraError('proposal_not_open', `Proposal ${proposalId} is currently in state ${info.state} - only Open proposals can receive votes`);
      let body: { ballot?: unknown };
      try {
        body = JSON.parse(msg.payload.toString('utf8'));
      } catch {
        throw new TesseraError('invalid_input', 'a ballot is {"ballot": "<JS module exporting vote>"}');
      }
      if (typeof body.ballot !== 'string') throw new TesseraError('invalid_input', 'a ballot is {"ballot": "<JS module exporting vote>"}');
      const existing = info.ballots[memberId];
      if (existing !== undefined) {
        if (existing === body.ballot) return this.view(proposalId, info);
        throw new TesseraError('vote_already_exists', `member ${member.name} has already voted on proposal ${proposalId}`);
      }
      // A ballot that cannot run is refused now, rather than counted as a failure later.
      try {
        await this.runBallot(tx, body.ballot, proposal, info.proposer_id);
      } catch (err) {
        throw new TesseraError('invalid_input', `the ballot failed: ${(err as Error).message}`);
      }
      info.ballots[memberId] = body.ballot;
      await this.resolve(tx, proposalId, proposal, info, await this.checkCandidates(tx, proposal, info.proposer_id));
      tx.put(GOV.proposalsInfo, proposalId, info);
      return this.view(proposalId, info);
    });
  }

  async withdraw(msg: CoseMessage, proposalId: string) {
    return this.transact(async (tx) => {
      const member = this.authenticate(tx, msg, 'withdrawal');
      if (msg.proposalId !== proposalId) throw new TesseraError('invalid_input', 'the proposal_id in the COSE header does not match the URL');
      const info = tx.get<ProposalInfo>(GOV.proposalsInfo, proposalId);
      // CCF: withdrawing an unknown proposal is idempotent (204), as is withdrawing a withdrawn one.
      if (!info) return null;
      if (info.proposer_id !== member.certId) throw new TesseraError('permission_denied', `Proposal ${proposalId} can only be withdrawn by proposer ${info.proposer_id}, not caller ${member.certId}.`);
      if (info.state === 'Withdrawn') return this.view(proposalId, info);
      if (info.state !== 'Open') throw new TesseraError('proposal_not_open', `Proposal ${proposalId} is currently in state ${info.state} and cannot be withdrawn.`);
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
    if (ballot === undefined) throw new TesseraError('vote_not_found', `member ${memberId} has not voted on proposal ${proposalId}`);
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
    if (proposal === undefined || !info) throw new TesseraError('proposal_not_found', `Could not find proposal ${proposalId}.`);
    return { proposal, info };
  }
}

/** An engine error as CCF words a JS failure in governance: the exception itself, or its time limit. */
function reasonOf(err: TesseraError): string {
  if (err?.code === 'timeout') return 'Operation took too long to complete.';
  const reason = String(err?.message ?? err).replace(/^the code threw /, '');
  // The engine names an exception's class unless it is plain Error; CCF's reasons always name it.
  return /^[A-Za-z]*Error: /.test(reason) || !/^the code threw /.test(String(err?.message)) ? reason : `Error: ${reason}`;
}
