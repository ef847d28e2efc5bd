import type { Command } from 'commander';
import { TesseraError } from '../../errors/index.js';
import { ACCEPT_BALLOT, type MemberClient } from '../../sdk/member.js';
import { type ProposalStatus, readAppBundle, removeJsAppProposal, setJsAppProposal, waitForProposal } from '../../sdk/app-deploy.js';
import { expectOk, type GovFlags, memberFromFlags, memberOptions, printState } from './gov.js';

// `tessera app`: deploy a CCF JavaScript app from its directory, show what is deployed, remove it. Each
// change is a governance proposal (set_js_app, remove_js_app) signed by the member, as CCF deploys apps.

interface ProposeFlags extends GovFlags {
  accept?: boolean;
  wait?: boolean;
  timeout: string;
}


const proposeOptions = (cmd: Command) =>
  memberOptions(cmd)
    .option('--accept', 'also vote yes on the proposal, as the proposing member')
    .option('--wait', 'wait until the proposal is decided; exit non-zero unless it is Accepted')
    .option('--timeout <seconds>', 'with --wait: how long to wait for the votes', '300');

const FINAL_HINT: Record<string, string> = {
  Rejected: 'the members voted it down',
  Failed: 'it was accepted but failed to apply',
  Withdrawn: 'the proposer withdrew it',
  Dropped: 'the constitution changed while it was open',
};

/** Proposes `proposal`, votes yes with --accept, waits with --wait; the process exits non-zero unless it ends well. */
async function submit(client: MemberClient, proposal: unknown, flags: ProposeFlags) {
  const timeout = Number(flags.timeout);
  if (!Number.isFinite(timeout) || timeout < 0) throw new TesseraError('invalid_input', `--timeout takes a number of seconds, not '${flags.timeout}'`);
  const created = await client.call('POST', '/gov/members/proposals:create', client.sign('proposal', JSON.stringify(proposal)));
  const createdText = await expectOk(created);
  printState(createdText, created.txId);
  let status = JSON.parse(createdText) as ProposalStatus;
  const id = status.proposalId;
  if (flags.accept && status.proposalState === 'Open') {
    const voted = await client.call('POST', `/gov/members/proposals/${id}/ballots/${client.id}:submit`, client.sign('ballot', JSON.stringify({ ballot: ACCEPT_BALLOT }), id));
    const votedText = await expectOk(voted);
    printState(votedText, voted.txId);
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
    printState(JSON.stringify(last));
    status = last;
  }
  const state = status.proposalState;
  if (state === 'Open') {
    if (flags.wait) return; // unreachable: the wait above ends only when decided or timed out
    console.log(`the proposal is Open: other members vote with  tessera gov vote ${id} --accept`);
    return;
  }
  if (state !== 'Accepted') {
    const why = status.failure?.reason ? `: ${status.failure.reason}` : '';
    throw new TesseraError('function_failed', `proposal ${id} is ${state} (${FINAL_HINT[state] ?? 'not accepted'})${why}`);
  }
}

/** One line per endpoint: METHOD path  module:function  mode  policies  [interpreter_reuse key]. */
function endpointLines(endpoints: Record<string, Record<string, Record<string, unknown>>>): string[] {
  const rows: string[][] = [];
  for (const [url, methods] of Object.entries(endpoints).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [method, info] of Object.entries(methods).sort(([a], [b]) => a.localeCompare(b))) {
      const policies = (Array.isArray(info.authn_policies) ? info.authn_policies : []).map((p) => (typeof p === 'string' ? p : `all_of(${(p as { all_of?: string[] }).all_of?.join('+')})`));
      const reuse = (info.interpreter_reuse as { key?: string } | undefined)?.key;
      rows.push([method.toUpperCase(), url, `${String(info.js_module).replace(/^\/+/, '')}:${info.js_function}`, String(info.mode), policies.join(',') || '(none)', reuse ? `interpreter_reuse=${reuse}` : '']);
    }
  }
  const widths = rows.reduce((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), [] as number[]);
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
}

export function registerApp(program: Command) {
  const app = program
    .command('app')
    .description('CCF JavaScript apps, as a member: deploy an app directory (set_js_app proposal), show the deployed endpoints, remove the app')
    .addHelpText(
      'after',
      `
An app directory is laid out as CCF's: app.json ({"endpoints": …}) and src/ with the modules; js_module
names are paths relative to src/ (e.g. "endpoints/all.js"). A bundle.json from ccf-build-bundle works too.

Examples:
  $ tessera app deploy ./my-app -i ./tessera-data-identities/m0 --wait
  $ tessera app deploy ./my-app/dist -i ./tessera-data-identities/m0 --accept --wait --timeout 60
  $ tessera app show -i ./tessera-data-identities/m0
  $ tessera app remove -i ./tessera-data-identities/m0 --accept --wait`,
    );

  proposeOptions(app.command('deploy <dir>'))
    .description('Build the bundle from DIR (app.json + src/), propose set_js_app with it, print the proposal id and state')
    .option('--disable-bytecode-cache', "deploy with CCF's disable_bytecode_cache: true (no compiled code cached for the modules)")
    .addHelpText(
      'after',
      `
Every file under DIR/src becomes a module named by its path below src/ (dot files aside), as CCF's
tooling builds bundles. Each endpoint's js_module must be one of them. Other members vote with
\`tessera gov vote ID --accept\`; --wait waits for their votes (progress on a terminal) and exits 0 only
if the proposal is Accepted (1 if Rejected, Failed or still Open at --timeout).

Examples:
  $ tessera app deploy ./my-app -i ./tessera-data-identities/m0
  $ tessera app deploy ./my-app -i ./tessera-data-identities/m0 --accept --wait
  $ tessera app deploy ./npm-app/dist --disable-bytecode-cache -i ./tessera-data-identities/m0 --wait --timeout 120
  $ tessera app deploy ./npm-app/dist/bundle.json -i ./tessera-data-identities/m0`,
    )
    .action(async (dir: string, flags: ProposeFlags & { disableBytecodeCache?: boolean }) => {
      const bundle = readAppBundle(dir); // before anything is signed or sent: a bad directory writes nothing
      const client = memberFromFlags(flags);
      const endpoints = Object.values(bundle.metadata.endpoints).reduce((n, m) => n + Object.keys(m).length, 0);
      process.stderr.write(`bundle: ${bundle.modules.length} module${bundle.modules.length === 1 ? '' : 's'}, ${endpoints} endpoint${endpoints === 1 ? '' : 's'}${flags.disableBytecodeCache ? ', bytecode cache disabled' : ''}\n`);
      await submit(client, setJsAppProposal(bundle, flags.disableBytecodeCache === true), flags);
    });

  memberOptions(app.command('show'))
    .description("Print the deployed app's endpoints (from /gov/service/javascript-app)")
    .option('--json', 'print the endpoints as the node gives them (CCF\'s original case), as JSON')
    .addHelpText('after', '\nExamples:\n  $ tessera app show -i ./tessera-data-identities/m0\n  $ tessera app show --json -i ./tessera-data-identities/m0')
    .action(async (flags: GovFlags & { json?: boolean }) => {
      const client = memberFromFlags(flags);
      const { endpoints } = JSON.parse(await expectOk(await client.call('GET', '/gov/service/javascript-app?case=original'))) as { endpoints: Record<string, Record<string, Record<string, unknown>>> };
      if (flags.json) {
        console.log(JSON.stringify({ endpoints }, null, 2));
        return;
      }
      const lines = endpointLines(endpoints);
      if (!lines.length) {
        console.log('no app is deployed');
        return;
      }
      for (const line of lines) console.log(line);
    });

  proposeOptions(app.command('remove'))
    .description('Propose remove_js_app: every app endpoint and module goes once it is accepted')
    .addHelpText('after', '\nExamples:\n  $ tessera app remove -i ./tessera-data-identities/m0\n  $ tessera app remove -i ./tessera-data-identities/m0 --accept --wait')
    .action(async (flags: ProposeFlags) => {
      await submit(memberFromFlags(flags), removeJsAppProposal(), flags);
    });
}
