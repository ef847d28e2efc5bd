import type { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TesseraError } from '../../errors/index.js';
import { newMemberKeyPair } from '../../sdk/member-keys.js';
import type { MemberClient } from '../../sdk/member.js';
import { expectOk, type GovFlags, memberFromFlags, printState } from './gov.js';
import { type ProposeFlags, memberOptions, proposeOptions, submit } from './propose.js';

// How members come and go, as in CCF: a new member makes its own key pair (`gov keygen`), an active member
// proposes set_member with the certificate (`gov propose-member`), the members vote, and the new member,
// Accepted, acknowledges the service state (`gov ack`: the state-digest update, then the ack) to become
// Active. Also `gov withdraw`, for a proposer to take back an open proposal.

const PROPOSAL_ID = /^[0-9a-f]{64}$/;

/** The proposal's state, or a one-line error naming the id when the node has no such proposal. */
async function proposalState(client: MemberClient, id: string): Promise<{ proposalState: string; proposerId: string }> {
  if (!PROPOSAL_ID.test(id)) throw new TesseraError('invalid_input', `'${id}' is not a proposal id (64 hex digits): tessera gov list shows them`);
  const r = await client.call('GET', `/gov/members/proposals/${id}`);
  if (r.status === 404) throw new TesseraError('proposal_not_found', `no proposal ${id} on this node: tessera gov list shows them`);
  return JSON.parse(await expectOk(r));
}

const cnOf = (certPem: string, file: string) => {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new TesseraError('invalid_input', `${file} is not a PEM certificate: give the cert.pem that tessera gov keygen wrote`);
  }
  return /CN=([^,\n]+)/.exec(cert.subject)?.[1]?.trim();
};

export function registerGovMembers(gov: Command) {
  memberOptions(gov.command('withdraw <proposal-id>'))
    .description('Withdraw an open proposal you made (only its proposer can)')
    .option('--json', 'print the proposal state as JSON')
    .addHelpText('after', '\nExample:\n  $ tessera gov withdraw <proposal-id> -i ./tessera-data-identities/m0')
    .action(async (id: string, flags: GovFlags & { json?: boolean }) => {
      const client = memberFromFlags(flags);
      const before = await proposalState(client, id);
      if (before.proposerId !== client.id) throw new TesseraError('permission_denied', `proposal ${id} was made by member ${before.proposerId.slice(0, 12)}…, not by you: only its proposer can withdraw it`);
      const r = await client.call('POST', `/gov/members/proposals/${id}:withdraw`, client.sign('withdrawal', '', id));
      const text = await expectOk(r);
      if (flags.json) console.log(text);
      else printState(text, r.txId);
    });

  memberOptions(gov.command('ack'))
    .description("As a newly accepted member: acknowledge the service's state digest and become Active (CCF's state-digests update, then ack)")
    .option('--json', "print the member's id, the digest acknowledged and its status as JSON")
    .addHelpText(
      'after',
      `
A member added by a set_member proposal starts Accepted: it can read, but cannot propose or vote until it
acknowledges the state of the service it joined. The command asks the node for the digest to sign (the
root of the latest ledger signature), signs it, and sends the acknowledgement.

Example:
  $ tessera gov ack -i ./carol`,
    )
    .action(async (flags: GovFlags & { json?: boolean }) => {
      const client = memberFromFlags(flags);
      const updated = await client.call('POST', `/gov/members/state-digests/${client.id}:update`, client.sign('state_digest', ''));
      if (updated.status === 401) throw new TesseraError('unauthenticated', 'the node does not know this certificate as a member: a set_member proposal for it must pass first (tessera gov propose-member)');
      const digest = JSON.parse(await expectOk(updated)) as { memberId: string; stateDigest: string };
      const acked = await client.call('POST', `/gov/members/state-digests/${client.id}:ack`, client.sign('ack', JSON.stringify({ state_digest: digest.stateDigest })));
      const result = JSON.parse(await expectOk(acked)) as { memberId: string; status: string };
      if (flags.json) console.log(JSON.stringify({ memberId: result.memberId, stateDigest: digest.stateDigest, status: result.status }, null, 2));
      else console.log(`member ${result.memberId}  ${result.status}  (acknowledged state digest ${digest.stateDigest.slice(0, 16)}…${acked.txId ? `, tx ${acked.txId}` : ''})`);
    });

  gov
    .command('keygen <name>')
    .description("As a prospective member: make your key pair and certificate (CCF's keygenerator.sh); send only cert.pem to a member")
    .option('--out <dir>', 'where to create the NAME folder', '.')
    .option('--ca <file>', "the node's ca.pem, copied into the folder so that -i NAME finds it")
    .addHelpText(
      'after',
      `
Writes NAME/cert.pem and NAME/key.pem (0600). The private key stays with you; an active member proposes
your certificate with \`tessera gov propose-member NAME --cert NAME/cert.pem\`, and once the members accept,
you run \`tessera gov ack -i NAME\`.

Example:
  $ tessera gov keygen carol --ca ./tessera-data/ca.pem`,
    )
    .action(async (name: string, flags: { out: string; ca?: string }) => {
      if (!existsSync(flags.out)) throw new TesseraError('not_found', `--out ${flags.out} does not exist: create it first`);
      const dir = join(resolve(flags.out), name);
      if (existsSync(dir)) throw new TesseraError('conflict', `${dir} already exists: keygen never overwrites a key`);
      if (flags.ca && !existsSync(flags.ca)) throw new TesseraError('not_found', `${flags.ca} does not exist: --ca takes the node's ca.pem`);
      const pair = await newMemberKeyPair(name);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'cert.pem'), pair.certPem);
      writeFileSync(join(dir, 'key.pem'), pair.keyPem, { mode: 0o600 });
      if (flags.ca) copyFileSync(flags.ca, join(dir, 'ca.pem'));
      console.log(`certificate  ${join(dir, 'cert.pem')}  (send this to a member)`);
      console.log(`private key  ${join(dir, 'key.pem')}  (keep it; it never leaves this machine)`);
    });

  proposeOptions(gov.command('propose-member <name>'))
    .description('Propose set_member: a new member, from the certificate it made with tessera gov keygen')
    .option('--cert <file>', "the new member's certificate (default: NAME/cert.pem)")
    .option('--member-data <json>', "CCF's member_data for the new member, a JSON object")
    .addHelpText(
      'after',
      `
The new member is Accepted once the proposal passes and becomes Active with \`tessera gov ack -i NAME\`.
Members only ever join this way (tessera user add --member is refused after tessera init).

Example:
  $ tessera gov propose-member carol --cert ./carol/cert.pem -i ./tessera-data-identities/m0`,
    )
    .action(async (name: string, flags: ProposeFlags & { cert?: string; memberData?: string }) => {
      const file = flags.cert ?? join(name, 'cert.pem');
      if (!existsSync(file)) throw new TesseraError('not_found', `${file} does not exist: the new member makes it with  tessera gov keygen ${name}  and sends you cert.pem (pass it with --cert)`);
      const cert = readFileSync(file, 'utf8');
      const cn = cnOf(cert, file);
      if (cn !== name) throw new TesseraError('invalid_input', `${file} is the certificate of ${cn ? `'${cn}'` : 'no name'} (its CN), not of '${name}': the CN is the name the node gives the member`);
      let memberData: unknown;
      if (flags.memberData !== undefined) {
        try {
          memberData = JSON.parse(flags.memberData);
        } catch (err) {
          throw new TesseraError('invalid_input', `--member-data is not JSON: ${(err as Error).message}`);
        }
        if (typeof memberData !== 'object' || memberData === null || Array.isArray(memberData)) throw new TesseraError('invalid_input', '--member-data must be a JSON object');
      }
      const proposal = { actions: [{ name: 'set_member', args: { cert, ...(memberData !== undefined ? { member_data: memberData } : {}) } }] };
      const status = await submit(memberFromFlags(flags), proposal, flags);
      if (flags.json) console.log(JSON.stringify({ proposal: status }, null, 2));
      else if (status.proposalState === 'Accepted') console.log(`${name} is an Accepted member: ${name} now runs  tessera gov ack -i <${name}'s folder>  to become Active`);
    });
}
