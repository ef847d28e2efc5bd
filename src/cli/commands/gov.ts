import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { caPathFor } from '../../sdk/identity.js';
import { TesseraError } from '../../errors/index.js';
import { ACCEPT_BALLOT, REJECT_BALLOT, type MemberClient, memberClient } from '../../sdk/member.js';
import { registerGovMembers } from './gov-members.js';

export interface GovFlags {
  identity?: string;
  url: string;
  ca?: string;
}

/** The member's client, from its identity folder (or $TESSERA_IDENTITY) and the node CA. */
export function memberFromFlags(flags: GovFlags): MemberClient {
  const dir = flags.identity ?? process.env.TESSERA_IDENTITY;
  if (!dir) throw new TesseraError('invalid_input', "which member? pass --identity DIR (the member's folder with cert.pem and key.pem) or set TESSERA_IDENTITY");
  const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const key = readFileSync(join(dir, 'key.pem'), 'utf8');
  const caPath = flags.ca ?? process.env.TESSERA_CA ?? caPathFor(dir);
  if (!caPath) throw new TesseraError('not_found', `no ca.pem in ${dir} (nor two folders up): pass --ca with the node's CA certificate`);
  const ca = readFileSync(caPath, 'utf8');
  return memberClient({ url: flags.url, cert, key, ca });
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

const options = (cmd: Command) =>
  cmd
    .option('-i, --identity <dir>', "the member's identity folder: cert.pem and key.pem (or $TESSERA_IDENTITY)")
    .option('--url <url>', 'the node (or $TESSERA_URL)', process.env.TESSERA_URL ?? 'https://127.0.0.1:8000')
    .option('--ca <file>', "the node CA (default: ca.pem two levels above the identity folder)");

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
    .addHelpText('after', '\nExample:\n  $ tessera gov vote 027a4c5a…ebf --accept -i ./tessera-data-identities/m1')
    .action(async (id: string, flags: GovFlags & { accept?: boolean; reject?: boolean; ballot?: string }) => {
      const chosen = [flags.accept, flags.reject, flags.ballot].filter(Boolean).length;
      if (chosen !== 1) throw new TesseraError('invalid_input', 'choose exactly one of --accept, --reject or --ballot FILE');
      const ballot = flags.ballot ? readFileSync(flags.ballot, 'utf8') : flags.accept ? ACCEPT_BALLOT : REJECT_BALLOT;
      const client = memberFromFlags(flags);
      const r = await client.call('POST', `/gov/members/proposals/${id}/ballots/${client.id}:submit`, client.sign('ballot', JSON.stringify({ ballot }), id));
      printState(await expectOk(r), r.txId);
    });

  options(gov.command('list'))
    .description('List proposals with their states')
    .addHelpText('after', '\nExample:\n  $ tessera gov list -i ./tessera-data-identities/m0')
    .action(async (flags: GovFlags) => {
      const r = await memberFromFlags(flags).call('GET', '/gov/members/proposals');
      for (const p of JSON.parse(await expectOk(r)).value) printState(JSON.stringify(p));
    });

  options(gov.command('show <id>'))
    .description("Show a proposal's state, votes and actions")
    .addHelpText('after', '\nExample:\n  $ tessera gov show 027a4c5a…ebf -i ./tessera-data-identities/m0')
    .action(async (id: string, flags: GovFlags) => {
      const client = memberFromFlags(flags);
      const state = JSON.parse(await expectOk(await client.call('GET', `/gov/members/proposals/${id}`)));
      const actions = JSON.parse(await expectOk(await client.call('GET', `/gov/members/proposals/${id}/actions`)));
      console.log(JSON.stringify({ ...state, actions: actions.actions.map((a: { name: string }) => a.name) }, null, 2));
    });
  registerGovMembers(gov);
}
