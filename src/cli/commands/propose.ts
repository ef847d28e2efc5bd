import type { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { TesseraError } from '../../errors/index.js';
import { ACCEPT_BALLOT, type MemberClient } from '../../sdk/member.js';
import { type ProposalStatus, waitForProposal } from '../../sdk/app-deploy.js';
import { expectOk, type GovFlags, memberOptions, printState } from './gov.js';

// Proposing as one command: submit a proposal, vote yes when asked to (or when the caller is the only
// active member, whose vote alone decides under the default constitution), wait for the other members'
// votes, and say who must still vote and how. `tessera app deploy`, `app remove`, `fn deploy --propose`
// and `gov propose-member` share it.

export interface ProposeFlags extends GovFlags {
  accept?: boolean;
  vote?: boolean;
  wait?: boolean;
  timeout: string;
  json?: boolean;
}

// A member finds the node as every command does (flags, TESSERA_*, context, DATA/node.json: target.ts).
export { memberOptions };

export const proposeOptions = (cmd: Command) =>
  memberOptions(cmd)
    .option('--vote', 'also vote yes on the proposal, as the proposing member (done anyway when you are the only active member)')
    .option('--accept', 'the same as --vote')
    .option('--wait', 'wait until the proposal is decided; exit non-zero unless it is Accepted')
    .option('--timeout <seconds>', 'with --wait: how long to wait for the votes', '300')
    .option('--json', 'print the proposal state (and what was deployed) as JSON');

const FINAL_HINT: Record<string, string> = {
  Rejected: 'the members voted it down',
  Failed: 'it was accepted but failed to apply',
  Withdrawn: 'the proposer withdrew it',
  Dropped: 'the constitution changed while it was open',
};

interface MemberRow {
  memberId: string;
  status: string;
  certificate: string;
}

const nameOf = (m: MemberRow) => {
  try {
    return /CN=([^,\n]+)/.exec(new X509Certificate(m.certificate).subject)?.[1]?.trim() ?? m.memberId.slice(0, 12);
  } catch {
    return m.memberId.slice(0, 12);
  }
};

/** The active members, with the names their certificates carry. */
export async function activeMembers(client: MemberClient): Promise<Array<{ id: string; name: string }>> {
  const { value } = JSON.parse(await expectOk(await client.call('GET', '/gov/service/members'))) as { value: MemberRow[] };
  return value.filter((m) => m.status === 'Active').map((m) => ({ id: m.memberId, name: nameOf(m) }));
}

/** Who has not voted yet, as one line a member can act on. */
async function whoMustVote(client: MemberClient, id: string): Promise<string> {
  const active = await activeMembers(client);
  // A member's ballot answers 200 once cast (CCF's GET …/ballots/{memberId}), 404 before.
  const cast = await Promise.all(active.map(async (m) => (await client.call('GET', `/gov/members/proposals/${id}/ballots/${m.id}`)).status === 200));
  const waiting = active.filter((_m, i) => !cast[i]).map((m) => m.name);
  return `the proposal is Open: the constitution needs more votes. Members vote with\n  tessera gov vote ${id} --accept -i <their identity folder>\n${waiting.length ? `(not voted yet: ${waiting.join(', ')})` : ''}`.trimEnd();
}

const say = (flags: ProposeFlags, text: string, txId?: string) => {
  if (!flags.json) printState(text, txId);
};

/**
 * Proposes `proposal`, votes yes with --vote (or alone), waits with --wait. Resolves with the final
 * status; throws (exit 1) when it ends Rejected, Failed, Withdrawn or Dropped, or --wait times out.
 */
export async function submit(client: MemberClient, proposal: unknown, flags: ProposeFlags): Promise<ProposalStatus> {
  const timeout = Number(flags.timeout);
  if (!Number.isFinite(timeout) || timeout < 0) throw new TesseraError('invalid_input', `--timeout takes a number of seconds, not '${flags.timeout}'`);
  const created = await client.call('POST', '/gov/members/proposals:create', client.sign('proposal', JSON.stringify(proposal)));
  const createdText = await expectOk(created);
  say(flags, createdText, created.txId);
  let status = JSON.parse(createdText) as ProposalStatus;
  const id = status.proposalId;
  let vote = flags.vote || flags.accept;
  if (!vote && status.proposalState === 'Open') {
    const active = await activeMembers(client);
    vote = active.length === 1 && active[0].id === client.id;
    if (vote) process.stderr.write('you are the only active member: voting yes\n');
  }
  if (vote && status.proposalState === 'Open') {
    const voted = await client.call('POST', `/gov/members/proposals/${id}/ballots/${client.id}:submit`, client.sign('ballot', JSON.stringify({ ballot: ACCEPT_BALLOT }), id));
    const votedText = await expectOk(voted);
    say(flags, votedText, voted.txId);
    status = JSON.parse(votedText);
  }
  if (flags.wait && status.proposalState === 'Open') {
    // Progress on a terminal only: one line on stderr, rewritten in place; nothing in a pipe or a log.
    const tty = process.stderr.isTTY;
    const { status: last, timedOut } = await waitForProposal(client, id, {
      timeoutMs: timeout * 1000,
      progress: (s, ms) => {
        if (tty) process.stderr.write(`\r\x1b[Kwaiting for votes on ${id.slice(0, 12)}…: ${s.proposalState}, ${s.ballotCount} ballot${s.ballotCount === 1 ? '' : 's'}, ${Math.round(ms / 1000)} s of ${timeout} s`);
      },
    });
    if (tty) process.stderr.write('\r\x1b[K');
    if (timedOut) throw new TesseraError('timeout', `proposal ${id} is still Open after ${timeout} s (${last.ballotCount} ballot${last.ballotCount === 1 ? '' : 's'}); other members must vote: tessera gov vote ${id} --accept`);
    say(flags, JSON.stringify(last));
    status = last;
  }
  const state = status.proposalState;
  if (state === 'Open') {
    const hint = await whoMustVote(client, id);
    if (flags.json) process.stderr.write(`${hint}\n`);
    else console.log(hint);
    return status;
  }
  if (state !== 'Accepted') {
    const why = status.failure?.reason ? `: ${status.failure.reason}` : '';
    throw new TesseraError('function_failed', `proposal ${id} is ${state} (${FINAL_HINT[state] ?? 'not accepted'})${why}`);
  }
  return status;
}
