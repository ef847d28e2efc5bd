import { TesseraError } from '../errors/index.js';
import type { ClusterNode, Membership } from '../cluster/membership.js';
import { checkPlacement } from './annotations.js';
import type { WorkflowSpec } from './spec.js';

// Placement across the nodes of a cluster: which node runs a workflow. EDGELESS's orchestrator picks a
// node that satisfies every function's and resource's annotations; here the candidates are the live nodes
// recorded in the store (src/cluster/membership.ts), minus 'api' nodes (they run no instances), and of
// those the one running the fewest workflows wins. The choice is recorded on the workflow's record
// (placed_on), and only that node runs it.

/** Why `node` cannot run `spec`, naming the function or resource and the annotation; null if it can. */
export function unfit(spec: WorkflowSpec, node: ClusterNode): string | null {
  if (node.role === 'api') return `node ${node.node_id} is an 'api' node (node.role), which runs no workflow instances`;
  const providers = new Set(node.resource_providers);
  const missing = spec.resources.find((r) => !providers.has(r.class_type));
  if (missing) return `resource '${missing.name}': node ${node.node_id} does not offer class '${missing.class_type}' ([workflows.resources] in its tessera.toml)`;
  try {
    checkPlacement(spec, { nodeId: node.node_id, hostname: node.hostname, labels: node.labels, attestation: node.attestation }, providers);
    return null;
  } catch (err) {
    return (err as Error).message.replace(/^invalid workflow: /, '');
  }
}

/**
 * The live node to run `spec` on: of those it fits, the one with the fewest workflows (`load`: node id →
 * workflows placed there), ties to `prefer` (the node asked) then by id. Refuses, naming each node's
 * unmet annotation, when none fits.
 */
export async function chooseNode(spec: WorkflowSpec, cluster: Membership, load: Map<string, number>): Promise<string> {
  const known = cluster.nodes();
  const alive = await cluster.aliveOf(known.map((n) => n.node_id));
  const live = known.filter((n) => alive.has(n.node_id));
  const fits = live.filter((n) => unfit(spec, n) === null);
  if (!fits.length) {
    const why = live.map((n) => `${n.node_id}: ${unfit(spec, n)}`);
    throw new TesseraError('invalid_input', `invalid workflow: no valid node found among the ${live.length} live node(s) of this cluster (${why.join('; ')})`);
  }
  const score = (n: ClusterNode) => load.get(n.node_id) ?? 0;
  fits.sort((a, b) => score(a) - score(b) || Number(b.node_id === cluster.nodeId) - Number(a.node_id === cluster.nodeId) || a.node_id.localeCompare(b.node_id));
  return fits[0].node_id;
}
