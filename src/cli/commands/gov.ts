import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { caPathFor } from '../../sdk/identity.js';
import { TesseraError } from '../../errors/index.js';
import { CONNECTION_HELP, nodeOptions } from '../client.js';
import { type OutputFlags, output, outputOptions } from '../output.js';
import { type ConnectionFlags, resolveTarget } from '../target.js';
import { ACCEPT_BALLOT, REJECT_BALLOT, type MemberClient, memberClient } from '../../sdk/member.js';
import { registerGovMembers } from './gov-members.js';

export interface GovFlags extends ConnectionFlags {
  identity?: string;
}

/** The member's client, from its identity folder and the node CA, found as every command finds them (target.ts). */
export function memberFromFlags(flags: GovFlags): MemberClient {
  const target = resolveTarget(flags);
  const dir = target.identity;
  if (!dir) throw new TesseraError('invalid_input', "which member? pass --identity DIR (the member's folder with cert.pem and key.pem), set TESSERA_IDENTITY, or use a context that names one");
  for (const f of ['cert.pem', 'key.pem']) {
    if (!existsSync(join(dir, f))) throw new TesseraError('not_found', `${join(dir, f)} is missing: a member's identity folder holds cert.pem and key.pem (as 'tessera init --members' makes it)`);
  }
  const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const key = readFileSync(join(dir, 'key.pem'), 'utf8');
  const caPath = target.ca ?? caPathFor(dir);
  if (!caPath) throw new TesseraError('not_found', `no ca.pem in ${dir} (nor two folders up): pass --ca with the node's CA certificate`);
  const ca = readFileSync(caPath, 'utf8');
  return memberClient({ url: target.url, cert, key, ca });
}

export async function expectOk(r: { status: number; text: string }) {
  if (r.status >= 300) {
    let message = r.text;
    try {
      const e = JSON.parse(r.text).error;
      message = `${e.code}: ${e.message}`;
    } catch {
      /* keep the text */
    }
    throw new TesseraError('invalid_input', message);
  }
  return r.text;
}

/** A member's connection options: identity, then how to find the node (--url, --ca, --data). */
export const memberOptions = (cmd: Command) =>
  nodeOptions(cmd.option('-i, --identity <dir>', "the member's identity folder: cert.pem and key.pem (or $TESSERA_IDENTITY)")).addHelpText('after', CONNECTION_HELP);
const options = memberOptions;

interface ProposalState {
  proposalId: string;
  proposalState: string;
  ballotCount: number;
  failure?: { reason: string };
}

export const printState = (text: string, txId?: string) => {
  const p = JSON.parse(text);
  console.log(`${p.proposalId}  ${p.proposalState}  (${p.ballotCount} ballot${p.ballotCount === 1 ? '' : 's'})${txId ? `  tx ${txId}` : ''}`);
  if (p.failure) console.log(`  failure: ${p.failure.reason}`);
};

export function registerGov(program: Command) {
  const gov = program
    .command('gov')
    .description('Governance, as a member: propose, vote, list and show proposals (COSE Sign1 signed)')
    .addHelpText(
      'after',
      `
Examples:
  $ tessera gov propose deploy-app.json -i ./tessera-data-identities/m0
  $ tessera gov vote <proposal-id> --accept -i ./tessera-data-identities/m1
  $ tessera gov vote <proposal-id> --ballot my-ballot.js -i ./tessera-data-identities/m2
  $ tessera gov list -i ./tessera-data-identities/m0
  $ tessera gov withdraw <proposal-id> -i ./tessera-data-identities/m0
  $ tessera gov keygen carol --ca ./tessera-data/ca.pem          # as carol: her own key pair
  $ tessera gov propose-member carol --cert ./carol/cert.pem -i ./tessera-data-identities/m0
  $ tessera gov ack -i ./carol                                   # as carol, once accepted: Active`,
    );

  options(gov.command('propose <file>'))
    .description('Submit a proposal ({"actions":[{"name","args"}]}); prints its id and state')
    .addHelpText('after', '\nExample:\n  $ tessera gov propose set_js_app.json -i ./tessera-data-identities/m0')
    .action(async (file: string, flags: GovFlags) => {
      const client = memberFromFlags(flags);
      const r = await client.call('POST', '/gov/members/proposals:create', client.sign('proposal', readFileSync(file, 'utf8')));
      printState(await expectOk(r), r.txId);
    });

  options(gov.command('vote <id>'))
    .description('Vote on an open proposal: --accept, --reject, or your own --ballot module exporting vote(proposal, proposerId)')
    .option('--accept', 'the standard yes ballot')
    .option('--reject', 'the standard no ballot')
    .option('--ballot <file>', 'a JS module exporting vote')
    .addHelpText('after', '\nExample:\n  $ tessera gov vote <proposal-id> --accept -i ./tessera-data-identities/m0')
    .action(async (id: string, flags: GovFlags & { accept?: boolean; reject?: boolean; ballot?: string }) => {
      const chosen = [flags.accept, flags.reject, flags.ballot].filter(Boolean).length;
      if (chosen !== 1) throw new TesseraError('invalid_input', 'choose exactly one of --accept, --reject or --ballot FILE');
      const ballot = flags.ballot ? readFileSync(flags.ballot, 'utf8') : flags.accept ? ACCEPT_BALLOT : REJECT_BALLOT;
      const client = memberFromFlags(flags);
      const r = await client.call('POST', `/gov/members/proposals/${id}/ballots/${client.id}:submit`, client.sign('ballot', JSON.stringify({ ballot }), id));
      printState(await expectOk(r), r.txId);
    });

  outputOptions(options(gov.command('list')))
    .description('List proposals with their states')
    .addHelpText('after', '\nExamples:\n  $ tessera gov list -i ./tessera-data-identities/m0\n  $ tessera gov list --json | jq -r \'.[] | select(.proposalState == "Open") | .proposalId\'')
    .action(async (flags: GovFlags & OutputFlags) => {
      const r = await memberFromFlags(flags).call('GET', '/gov/members/proposals');
      const list = JSON.parse(await expectOk(r)).value as ProposalState[];
      const out = output(flags);
      // In a pipe, each row stays as printState prints it ("ID  STATE  (N ballots)"), which scripts already read.
      out.table(list, [
        { key: 'proposalId', header: 'PROPOSAL' },
        { key: 'proposalState', header: 'STATE' },
        { key: 'ballotCount', header: 'BALLOTS', format: (n) => `(${n} ballot${n === 1 ? '' : 's'})` },
      ], { idKey: 'proposalId', empty: 'no proposals' });
    });

  outputOptions(options(gov.command('show <id>')))
    .description("Show a proposal's state, votes and actions (a summary; --json for all of it)")
    .addHelpText('after', '\nExamples:\n  $ tessera gov show <proposal-id> -i ./tessera-data-identities/m0\n  $ tessera gov show <proposal-id> --json -i ./tessera-data-identities/m0')
    .action(async (id: string, flags: GovFlags & OutputFlags) => {
      const client = memberFromFlags(flags);
      const state = JSON.parse(await expectOk(await client.call('GET', `/gov/members/proposals/${id}`)));
      const actions = JSON.parse(await expectOk(await client.call('GET', `/gov/members/proposals/${id}/actions`)));
      const shown = { ...state, actions: actions.actions.map((a: { name: string }) => a.name) };
      output(flags).record(shown, proposalLines(shown), { id });
    });
  registerGovMembers(gov);
}

/** A proposal as a person reads it: state, proposer, actions, who voted. */
function proposalLines(p: { proposalId: string; proposalState: string; proposerId?: string; actions: string[]; ballotCount?: number; finalVotes?: Record<string, boolean>; failure?: { reason: string } }): Array<[string, unknown]> {
  const lines: Array<[string, unknown]> = [
    ['proposal', p.proposalId],
    ['state', p.proposalState],
    ['proposer', p.proposerId],
    ['actions', p.actions.join(', ') || '(none)'],
  ];
  lines.push(['ballots', p.ballotCount ?? 0]);
  const votes = Object.entries(p.finalVotes ?? {});
  if (votes.length) lines.push(['votes', votes.map(([m, v]) => `${m} ${v ? 'yes' : 'no'}`).join(', ')]);
  if (p.failure) lines.push(['failure', p.failure.reason]);
  return lines;
}
