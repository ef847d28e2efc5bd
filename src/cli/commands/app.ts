import type { Command } from 'commander';
import { TesseraError } from '../../errors/index.js';
import type { MemberClient } from '../../sdk/member.js';
import { type AppBundle, readAppBundle, removeJsAppProposal, setJsAppProposal } from '../../sdk/app-deploy.js';
import { expectOk, type GovFlags, memberFromFlags } from './gov.js';
import { type ProposeFlags, memberOptions, proposeOptions, submit } from './propose.js';
import { resolveTarget } from '../target.js';

// `tessera app`: deploy a CCF JavaScript app from its directory, show what is deployed, remove it. Each
// change is a governance proposal (set_js_app, remove_js_app) signed by the member, as CCF deploys apps.

/**
 * Once set_js_app is accepted: checks that the node lists every endpoint of the bundle and that the app
 * answers one of them (any status but 404: the caller's certificate need not satisfy its policies).
 */
async function waitUntilServed(client: MemberClient, bundle: AppBundle, url: string): Promise<{ base: string; endpoints: string[] }> {
  const wanted = Object.entries(bundle.metadata.endpoints).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { endpoints } = JSON.parse(await expectOk(await client.call('GET', '/gov/service/javascript-app?case=original'))) as { endpoints: Record<string, Record<string, unknown>> };
    const listed = new Set(Object.entries(endpoints).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`)));
    const missing = wanted.filter((e) => !listed.has(e));
    let answered = missing.length === 0 && wanted.length === 0;
    if (!missing.length && wanted.length) {
      const [method, path] = wanted[0].split(' ');
      const probe = await client.call(method === 'GET' ? 'GET' : method, `/app${path.replace(/\{[^}]*\}/g, 'x')}`);
      answered = probe.status !== 404;
    }
    if (answered) return { base: `${new URL(url).origin}/app`, endpoints: wanted };
    if (Date.now() > deadline) throw new TesseraError('unavailable', `the proposal was accepted but the app does not answer yet${missing.length ? ` (not listed: ${missing.join(', ')})` : ''}: see tessera app show`);
    await new Promise((done) => setTimeout(done, 250));
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
    .description('Deploy a CCF app directory in one command: build the bundle from DIR (app.json + src/), propose set_js_app, vote, wait until the app answers')
    .option('--disable-bytecode-cache', "deploy with CCF's disable_bytecode_cache: true (no compiled code cached for the modules)")
    .addHelpText(
      'after',
      `
Every file under DIR/src becomes a module named by its path below src/ (dot files aside), as CCF's
tooling builds bundles. Each endpoint's js_module must be one of them.

When you are the only active member your yes decides, so the command votes it and, once accepted, waits
until the app answers: one command from directory to running app. With more members, --vote adds your
yes and the command says who has not voted; they vote with \`tessera gov vote ID --accept\`. --wait waits
for their votes (progress on a terminal) and exits 0 only if the proposal is Accepted (1 if Rejected,
Failed or still Open at --timeout).

Example:
  $ tessera app deploy ./my-app -i ./tessera-data-identities/m0

More examples:
  $ tessera app deploy ./my-app -i ./tessera-data-identities/m0 --vote --wait
  $ tessera app deploy ./my-app -i ./tessera-data-identities/m0 --accept --wait
  $ tessera app deploy ./npm-app/dist --disable-bytecode-cache -i ./tessera-data-identities/m0 --wait --timeout 120
  $ tessera app deploy ./npm-app/dist/bundle.json -i ./tessera-data-identities/m0`,
    )
    .action(async (dir: string, flags: ProposeFlags & { disableBytecodeCache?: boolean }) => {
      const bundle = readAppBundle(dir); // before anything is signed or sent: a bad directory writes nothing
      const client = memberFromFlags(flags);
      const endpoints = Object.values(bundle.metadata.endpoints).reduce((n, m) => n + Object.keys(m).length, 0);
      process.stderr.write(`bundle: ${bundle.modules.length} module${bundle.modules.length === 1 ? '' : 's'}, ${endpoints} endpoint${endpoints === 1 ? '' : 's'}${flags.disableBytecodeCache ? ', bytecode cache disabled' : ''}\n`);
      const status = await submit(client, setJsAppProposal(bundle, flags.disableBytecodeCache === true), flags);
      const live = status.proposalState === 'Accepted' ? await waitUntilServed(client, bundle, resolveTarget(flags).url) : null;
      if (flags.json) console.log(JSON.stringify({ proposal: status, app: live }, null, 2));
      else if (live) console.log(`app deployed: ${live.endpoints.length} endpoint${live.endpoints.length === 1 ? '' : 's'} answering under ${live.base}`);
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
      const status = await submit(memberFromFlags(flags), removeJsAppProposal(), flags);
      if (flags.json) console.log(JSON.stringify({ proposal: status }, null, 2));
    });
}
