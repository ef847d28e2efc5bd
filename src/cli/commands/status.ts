import type { Command } from 'commander';
import { TesseraError } from '../../errors/index.js';
import { presentedEvidence, publicGet, publicJson } from '../../sdk/node-reads.js';
import { type PublicNodeFlags, publicNodeFromFlags, publicNodeOptions } from './public-node.js';

// `tessera status`: one look at a node, from the reads anyone may make (CCF's /node and /gov reads,
// /v1/health) and the attestation evidence bound into the certificate it presents. No identity is sent.
// The exit code says whether the node is healthy: 0 yes, 1 unhealthy or unreachable.

/** The governance REST API version the CLI speaks (CCF's api-version). */
const GOV_API_VERSION = '2024-07-01';

interface Interface {
  bind_address: string;
  published_address: string;
  app_protocol?: string;
}

export interface NodeStatus {
  url: string;
  healthy: boolean;
  health: { status: string; version?: string };
  node: { id: string; state: string; last_signed_seqno: number | null };
  versions: { node: string | null; ccf: string | null; js_runtime: string | null; gov_api: string; rest_api: string | null };
  listeners: Array<{ name: string; address: string; protocol: string }>;
  attestation: { provider: string; made_at: string; age_s: number; mr_enclave: string; mr_signer: string };
  governance: { service_status: string; members: { active: number; accepted: number }; open_proposals: number; proposals: number };
}

const ago = (s: number) => (s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} days`);

async function collect(flags: PublicNodeFlags): Promise<NodeStatus> {
  const node = publicNodeFromFlags(flags);
  // The health check first: if the node cannot be reached, that is the one line to say.
  const health = await publicGet(node, '/v1/health');
  let healthBody: { status: string; version?: string } = { status: `HTTP ${health.status}` };
  try {
    healthBody = JSON.parse(health.text);
  } catch {
    /* keep the status line */
  }
  const [state, version, self, network, members, proposals, api, evidence] = await Promise.all([
    publicJson<{ node_id: string; state: string; last_signed_seqno: number | null }>(node, '/node/state'),
    publicJson<{ ccf_version: string; quickjs_version: string }>(node, '/node/version'),
    publicJson<{ rpc_interfaces: Record<string, Interface> }>(node, '/node/network/nodes/self'),
    publicJson<{ service_status: string }>(node, '/node/network'),
    publicJson<{ value: Array<{ status: string }> }>(node, `/gov/service/members?api-version=${GOV_API_VERSION}`),
    publicJson<{ value: Array<{ proposalState: string }> }>(node, `/gov/members/proposals?api-version=${GOV_API_VERSION}`),
    publicGet(node, '/v1/api').then((r) => (r.status === 200 ? ((JSON.parse(r.text) as { info?: { version?: string } }).info?.version ?? null) : null)),
    presentedEvidence(node),
  ]);
  const listeners = Object.entries(self.rpc_interfaces).map(([name, i]) => ({
    name: name === 'primary_rpc_interface' ? 'https' : name,
    address: i.published_address,
    protocol: name === 'primary_rpc_interface' ? 'HTTPS (REST, CCF, Fn)' : `${i.app_protocol ?? 'tcp'} wire`,
  }));
  const made = Date.parse(evidence.timestamp);
  return {
    url: node.url,
    healthy: health.status === 200 && healthBody.status === 'ok' && state.state === 'PartOfNetwork',
    health: healthBody,
    node: { id: state.node_id, state: state.state, last_signed_seqno: state.last_signed_seqno },
    versions: { node: healthBody.version ?? null, ccf: version.ccf_version, js_runtime: version.quickjs_version, gov_api: GOV_API_VERSION, rest_api: api },
    listeners,
    attestation: { provider: evidence.provider, made_at: evidence.timestamp, age_s: Number.isFinite(made) ? Math.max(0, Math.round((Date.now() - made) / 1000)) : -1, mr_enclave: evidence.mr_enclave, mr_signer: evidence.mr_signer },
    governance: {
      service_status: network.service_status,
      members: { active: members.value.filter((m) => m.status === 'Active').length, accepted: members.value.filter((m) => m.status === 'Accepted').length },
      open_proposals: proposals.value.filter((p) => p.proposalState === 'Open').length,
      proposals: proposals.value.length,
    },
  };
}

function print(s: NodeStatus) {
  const rows: Array<[string, string]> = [
    ['node', `${s.url}  ${s.healthy ? 'healthy' : 'UNHEALTHY'} (health ${s.health.status}, ${s.node.state})`],
    ['node id', s.node.id],
    ['version', `tessera ${s.versions.node ?? '?'}  (${s.versions.ccf}, ${s.versions.js_runtime}; REST API ${s.versions.rest_api ?? '?'}, gov API ${s.versions.gov_api})`],
    ['ledger', `last signed seqno ${s.node.last_signed_seqno ?? 'none'}`],
    ...s.listeners.map((l): [string, string] => [`listener`, `${l.name.padEnd(14)} ${l.address.padEnd(22)} ${l.protocol}`]),
    ['attestation', `${s.attestation.provider}, evidence made ${s.attestation.made_at} (${ago(s.attestation.age_s)} ago)${s.attestation.provider === 'software' ? '  no hardware guarantee' : ''}`],
    ['measurement', `mr_enclave ${s.attestation.mr_enclave.slice(0, 16)}…  mr_signer ${s.attestation.mr_signer.slice(0, 16)}…`],
    ['governance', `service ${s.governance.service_status}; ${s.governance.members.active} active member${s.governance.members.active === 1 ? '' : 's'}${s.governance.members.accepted ? `, ${s.governance.members.accepted} accepted (to ack)` : ''}; ${s.governance.open_proposals} open proposal${s.governance.open_proposals === 1 ? '' : 's'} of ${s.governance.proposals}`],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(12)} ${v}`);
}

export function registerStatus(program: Command) {
  publicNodeOptions(program.command('status'))
    .description("A node's health, listeners, attestation, versions and governance state; exits 1 if it is unhealthy or unreachable")
    .option('--json', 'print the status as JSON')
    .addHelpText(
      'after',
      `
Reads only what anyone may read (no identity is sent); the CA is needed to trust the node.

Example:
  $ tessera status --ca ./tessera-data/ca.pem`,
    )
    .action(async (flags: PublicNodeFlags & { json?: boolean }) => {
      let s: NodeStatus;
      try {
        s = await collect(flags);
      } catch (err) {
        // A script reading --json still gets JSON when the node cannot be reached; the error goes to stderr.
        if (flags.json && err instanceof TesseraError) console.log(JSON.stringify({ url: flags.url, healthy: false, error: err.message }, null, 2));
        throw err;
      }
      if (flags.json) console.log(JSON.stringify(s, null, 2));
      else print(s);
      if (!s.healthy) throw new TesseraError('unavailable', `the node at ${s.url} is not healthy (health: ${s.health.status}, state: ${s.node.state})`);
    });
}
