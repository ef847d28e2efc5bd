import { TesseraError } from '../errors/index.js';
import type { WorkflowSpec } from './spec.js';

// EDGELESS's placement annotations (edgeless_orc/src/deployment_requirements.rs, from_annotations and
// is_feasible): on functions in `annotations`, on resources inside `configurations`. EDGELESS's
// orchestrator picks a node that satisfies them; a Tessera node runs a workflow whole, on itself, so it
// either satisfies every one of them or refuses the start, naming the annotation. Nothing is accepted
// and ignored: a value EDGELESS would silently drop (a junk max_instances, an invalid UUID) is refused.

/** What this node is, for placement: EDGELESS's NodeCapabilities and resource providers of one node. */
export interface NodePlacement {
  /** The node's stable UUID (EDGELESS's node_id; `slf().node_id` in its instances). */
  nodeId: string;
  /** The OS host name: the label `hostname=<it>` (EDGELESS adds it to every node's labels) and provider ids' prefix. */
  hostname: string;
  /** tessera.toml workflows.labels. */
  labels: string[];
  /** tessera.toml attestation.provider: only sev-snp and tdx are a TEE. */
  attestation: string;
}

/** Tessera's own function annotations (docs/workflows.md), honoured by the workflow service. */
export const TESSERA_FUNCTION_ANNOTATIONS = ['init-payload', 'state-key', 'state-policy', 'event-timeout-ms'];
/** EDGELESS's placement annotations, on functions and (in `configurations`) resources. */
export const PLACEMENT_ANNOTATIONS = ['max_instances', 'node_id_match_any', 'label_match_all', 'resource_match_all', 'tee', 'tpm'];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Why a function or resource cannot run here, or null. `what` names it ("function 'f'"); `providers` are
 * the resource provider ids this node offers (resourceProviderIds).
 */
function placementProblem(what: string, annotations: Record<string, string>, node: NodePlacement, providers: Set<string>): string | null {
  const noNode = (key: string, why: string) => `${what}: no valid node found: annotation ${key} ${why}`;
  const max = annotations.max_instances;
  if (max !== undefined && !/^[0-9]{1,9}$/.test(max)) return `${what}: annotation max_instances must be a non-negative integer (0: no bound), not '${max}'`;
  const ids = annotations.node_id_match_any;
  if (ids !== undefined) {
    const list = ids.split(',');
    const bad = list.find((id) => !UUID.test(id));
    if (bad !== undefined) return `${what}: annotation node_id_match_any must be node UUIDs separated by commas; '${bad}' is not a UUID`;
    if (!list.some((id) => id.toLowerCase() === node.nodeId)) return noNode('node_id_match_any', `(${ids}) does not name this node (${node.nodeId})`);
  }
  const labels = annotations.label_match_all;
  if (labels !== undefined) {
    const have = nodeLabels(node);
    const missing = labels.split(',').filter((l) => !have.includes(l));
    if (missing.length) return noNode('label_match_all', `asks for ${missing.map((l) => `'${l}'`).join(', ')}, which this node does not have (its labels: ${have.join(', ')}; workflows.labels in tessera.toml)`);
  }
  const wanted = annotations.resource_match_all;
  if (wanted !== undefined) {
    const missing = wanted.split(',').filter((p) => !providers.has(p));
    if (missing.length) return noNode('resource_match_all', `asks for ${missing.map((p) => `'${p}'`).join(', ')}, which this node does not offer (its resource providers: ${[...providers].join(', ')})`);
  }
  for (const key of ['tee', 'tpm'] as const) {
    const v = annotations[key];
    if (v === undefined || v.toLowerCase() === 'not-required') continue;
    if (v.toLowerCase() !== 'required') return `${what}: annotation ${key} must be 'required' or 'not-required', not '${v}'`;
    if (key === 'tpm') return noNode('tpm=required', 'asks for a TPM, and Tessera has no TPM support (a hardware TEE is asked for with tee=required)');
    if (node.attestation !== 'sev-snp' && node.attestation !== 'tdx') {
      return noNode('tee=required', `asks for a hardware TEE, and this node's attestation provider is '${node.attestation}' (attestation.provider sev-snp or tdx is one)`);
    }
  }
  return null;
}

/** The node's labels as EDGELESS's node builds them (edgeless_node/src/lib.rs): the configured ones and `hostname=<host>`, sorted, once each. */
export const nodeLabels = (node: NodePlacement): string[] => [...new Set([...node.labels, `hostname=${node.hostname}`])].sort();

/**
 * The ids of the resource providers this node offers, as resource_match_all names them: each class it
 * offers by its class_type, and `<hostname>-<class_type>` (EDGELESS's provider id with prepend_hostname).
 */
export function resourceProviderIds(classes: Iterable<string>, hostname: string): Set<string> {
  return new Set([...classes].flatMap((c) => [c, `${hostname}-${c}`]));
}

/**
 * Refuses, naming the function or resource and the annotation, a workflow that this node cannot run as
 * its annotations ask, or that carries annotations nobody reads: an unknown function annotation, or
 * workflow-level annotations (EDGELESS ignores them with a warning; Tessera has none to honour).
 */
export function checkPlacement(spec: WorkflowSpec, node: NodePlacement, providers: Set<string>): void {
  const known = [...TESSERA_FUNCTION_ANNOTATIONS, ...PLACEMENT_ANNOTATIONS];
  const refuse = (message: string) => {
    throw new TesseraError('invalid_input', `invalid workflow: ${message}`);
  };
  const workflowLevel = Object.keys(spec.annotations ?? {});
  if (workflowLevel.length) {
    refuse(`workflow-level annotations (${workflowLevel.join(', ')}) are not supported: put placement annotations on each function (annotations) or resource (configurations)`);
  }
  for (const f of spec.functions) {
    const annotations = f.annotations ?? {};
    for (const key of Object.keys(annotations)) {
      if (!known.includes(key)) refuse(`function '${f.name}': unknown annotation '${key}' (known: ${known.join(', ')})`);
    }
    const policy = annotations['state-policy'];
    if (policy !== undefined && policy !== 'transient') refuse(`function '${f.name}': annotation state-policy must be 'transient' (leave it out for durable state), not '${policy}'`);
    const problem = placementProblem(`function '${f.name}'`, annotations, node, providers);
    if (problem) refuse(problem);
  }
  for (const r of spec.resources) {
    // A resource's configurations also hold its class's own keys: only the placement keys are read here.
    const problem = placementProblem(`resource '${r.name}' (${r.class_type})`, r.configurations ?? {}, node, providers);
    if (problem) refuse(problem);
  }
}

/** What max_instances bounds: a function class (class_specification.id) or a resource class, per owner. */
const instanceKeys = (spec: WorkflowSpec) => [
  ...spec.functions.map((f) => ({ key: `function class '${f.class_specification.id}'`, max: f.annotations?.max_instances, name: `function '${f.name}'` })),
  ...spec.resources.map((r) => ({ key: `resource class '${r.class_type}'`, max: r.configurations?.max_instances, name: `resource '${r.name}'` })),
];

/**
 * max_instances: a Tessera node runs one instance per function (and resource) of a workflow, so the bound
 * is on the instances of one class that one owner runs on this node, across all their workflows: a start
 * that would take the count of a class past the max_instances of any of its instances (the new workflow's
 * or a running one's) is refused. 0 means no bound, as in EDGELESS. `running` are the owner's running
 * workflows, read in the transaction that stores the new one, so two starts cannot both pass.
 */
export function checkMaxInstances(spec: WorkflowSpec, running: WorkflowSpec[]): void {
  const mine = instanceKeys(spec);
  const all = [...mine, ...running.flatMap(instanceKeys)];
  for (const key of new Set(mine.map((i) => i.key))) {
    const of = all.filter((i) => i.key === key);
    for (const bounded of of) {
      const max = Number(bounded.max ?? 0);
      if (max > 0 && of.length > max) {
        const where = mine.includes(bounded) ? `${bounded.name} of this workflow` : `${bounded.name} of a running workflow of yours`;
        throw new TesseraError('conflict', `${key} would have ${of.length} instances on this node, over max_instances ${max} (annotation of ${where})`);
      }
    }
  }
}

/** A node's EDGELESS UUID from its id (hex SHA-256 of its public key): the first 16 bytes, as a UUID. */
export function edgelessNodeId(nodeId: string): string {
  const h = nodeId.toLowerCase().slice(0, 32);
  if (!/^[0-9a-f]{32}$/.test(h)) throw new TesseraError('internal', `the node id '${nodeId}' is not hex`);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
