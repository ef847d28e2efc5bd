import { setTimeout as sleep } from 'node:timers/promises';
import { TesseraError } from '../errors/index.js';
import { ACCEPT_BALLOT, type MemberClient } from '../sdk/member.js';

// What members do to let a joining node serve, done for them by `tessera cluster dev` and the test cluster:
// wait until the Pending node has recorded its evidence, then propose transition_node_to_trusted and vote for
// it with as many members as it takes. A real service's members read the row and vote themselves.

export interface TrustRequest {
  /** Members' clients on a Trusted node; the first proposes. */
  members: MemberClient[];
  nodeId: string;
  /** How long to wait for the node to record its evidence. */
  timeoutMs?: number;
}

/** Proposes and votes the node to Trusted; returns the proposal id once it is Accepted. */
export async function trustNode({ members, nodeId, timeoutMs = 60_000 }: TrustRequest): Promise<string> {
  if (members.length === 0) throw new TesseraError('invalid_input', 'no members to trust the node with: a joining node is trusted by governance');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await members[0].call('GET', `/gov/service/nodes/${nodeId}`);
    if (row.status === 200 && JSON.parse(row.text).quoteInfo) break;
    if (Date.now() > deadline) throw new TesseraError('unavailable', `node ${nodeId} did not record its attestation within ${timeoutMs / 1000} s (is it started?)`);
    await sleep(200);
  }
  const proposal = JSON.stringify({ actions: [{ name: 'transition_node_to_trusted', args: { node_id: nodeId, valid_from: new Date().toISOString() } }] });
  const created = await members[0].call('POST', '/gov/members/proposals:create', members[0].sign('proposal', proposal));
  if (created.status !== 200) throw new TesseraError('invalid_input', `proposing transition_node_to_trusted for ${nodeId} failed: ${created.text}`);
  const { proposalId } = JSON.parse(created.text) as { proposalId: string };
  for (const m of members) {
    const voted = await m.call('POST', `/gov/members/proposals/${proposalId}/ballots/${m.id}:submit`, m.sign('ballot', JSON.stringify({ ballot: ACCEPT_BALLOT }), proposalId));
    if (voted.status !== 200) throw new TesseraError('invalid_input', `the vote on ${proposalId} failed: ${voted.text}`);
    const state = JSON.parse(voted.text).proposalState;
    if (state === 'Accepted') return proposalId;
    if (state !== 'Open') throw new TesseraError('invalid_input', `proposal ${proposalId} to trust node ${nodeId} is ${state}: ${voted.text}`);
  }
  throw new TesseraError('permission_denied', `not enough members voted to trust node ${nodeId}`);
}
