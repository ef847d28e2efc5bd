import { X509Certificate, createHash } from 'node:crypto';
import { isIssuedBy } from '../crypto/certificates.js';
import type { ReadTx } from '../store/types.js';
import { GOV } from './tables.js';

// The service's nodes, in CCF's public:ccf.gov.nodes.info (include/ccf/service/node_info.h): node id → what
// the node is and where it stands. A node made by `tessera cluster add-node` starts Pending; members move it
// to Trusted (transition_node_to_trusted) or take it out (remove_node: a Pending row goes, a Trusted one is
// Retired). A service whose table is empty is one node, the one made by init, and that node is Trusted.

export type NodeStatus = 'Pending' | 'Trusted' | 'Retired';

export interface NodeInfo {
  /** The node's identity certificate (DATA/node/cert.pem), from the service CA: its client identity to other nodes. */
  cert: string;
  status: NodeStatus;
  /** CCF's quote_info: the attestation the node recorded when it last started (null until then). */
  quote_info: { format: string; quote: string; endorsements: string } | null;
  /** The measurement its evidence attests (mr_enclave); null until it has started once. */
  measurement: string | null;
  /** Tessera's addition: the attested TLS certificate carrying that evidence, bound to its key (what the SDK checks). */
  attested_cert: string | null;
  /** CCF's node_data; Tessera keeps the node's principal name there. */
  node_data: { name: string };
  /** CCF fields that have no meaning here: there are no ledger secrets, and retirement commits at once. */
  ledger_secret_seqno: 0;
  retired_committed: boolean;
}

/** CCF's quote formats by attestation provider; TDX has none in CCF, so its provider's name is given. */
export const QUOTE_FORMAT: Record<string, string> = { software: 'Insecure_Virtual', 'sev-snp': 'AMD_SEV_SNP_v1', tdx: 'TDX' };

/** A node's id as CCF computes it (and the ledger names signers): the hex SHA-256 of its public key's DER. */
export const nodeIdOfPem = (certPem: string): string => createHash('sha256').update(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' })).digest('hex');

export const nodeRows = (tx: ReadTx): Array<[string, NodeInfo]> => tx.list<NodeInfo>(GOV.nodesInfo);

/**
 * The measurements this service accepts for a joining node: those its Trusted nodes attested. A node joins
 * only if it runs the code and measured settings the service already runs (docs/cluster.md).
 */
export function acceptedMeasurements(tx: ReadTx): string[] {
  return [...new Set(nodeRows(tx).flatMap(([, n]) => (n.status === 'Trusted' && n.measurement ? [n.measurement] : [])))];
}

/**
 * The SDK's check of a node certificate's evidence (attestation/verify.ts: its provider's rules, its binding to
 * the certificate's key, its age), without the auditors' list: returns the measurement it attests and its
 * platform (the provider and what the hardware measured of the guest, e.g. `sev-snp <launch measurement>`),
 * or throws. The node gives it to governance (node/capabilities/governance.ts), which does not import attestation.
 */
export type EvidenceCheck = (certDer: Buffer, maxAgeMs: number) => { measurement: string; platform: string };

/** How long after it was made a Pending node's evidence is still taken by governance: members may take days to vote. */
const JOIN_EVIDENCE_MAX_AGE_MS = 30 * 86_400_000;

/**
 * Why the Pending node `nodeId` may not become Trusted, or null if it may: its recorded attested certificate
 * was issued by the service CA, its evidence verifies with the SDK's own verifier (bound to that certificate's
 * key, under its provider's rules), it attests the measurement recorded beside it, and that measurement is
 * one the Trusted nodes run.
 */
export function joinProblem(tx: ReadTx, nodeId: string, caPem: string | undefined, check: EvidenceCheck | undefined): string | null {
  const node = tx.get<NodeInfo>(GOV.nodesInfo, nodeId);
  if (!node) return `no node ${nodeId} in public:ccf.gov.nodes.info (tessera cluster add-node records one)`;
  if (node.status !== 'Pending') return `node ${nodeId} is ${node.status}, not Pending: only a Pending node becomes Trusted`;
  if (!node.attested_cert || !node.measurement) return `node ${nodeId} has not recorded its attestation yet: start it (tessera serve) and propose again once it logs that it waits for members`;
  if (!caPem || !check) return 'this node cannot check a joining node: it was not given the service certificate and the evidence verifier';
  try {
    if (!isIssuedBy(node.attested_cert, caPem)) return `the attested certificate recorded for node ${nodeId} was not issued by the service CA`;
  } catch {
    return `the attested certificate recorded for node ${nodeId} is not a valid X.509 certificate`;
  }
  let attested: string;
  let platform: string;
  try {
    ({ measurement: attested, platform } = check(Buffer.from(new X509Certificate(node.attested_cert).raw), JOIN_EVIDENCE_MAX_AGE_MS));
  } catch (err) {
    return `the evidence recorded for node ${nodeId} does not verify (${(err as Error).message}): restart the node so it records fresh evidence, and do not trust it until it does`;
  }
  if (attested !== node.measurement) return `node ${nodeId} records measurement ${node.measurement}, but its evidence attests ${attested}: the row was altered`;
  const accepted = acceptedMeasurements(tx);
  if (!accepted.includes(node.measurement)) {
    return `node ${nodeId} runs measurement ${node.measurement}, which no Trusted node runs (${accepted.join(', ') || 'none recorded'}): run the same Tessera build and measured settings as the service`;
  }
  // The same code on other hardware (a software node in a hardware service, another guest image, a debug
  // guest) is not the node members trusted: its platform must be one a Trusted node recorded.
  const platforms = trustedPlatforms(tx, check);
  if (platforms.size && !platforms.has(platform)) {
    return `node ${nodeId} runs on ${platform}, which no Trusted node runs on (${[...platforms].join('; ')}): start it on the same kind of machine and guest image as the service`;
  }
  return null;
}

/** The platforms the Trusted nodes' recorded evidence shows (their evidence may be old: its age is not judged here). */
function trustedPlatforms(tx: ReadTx, check: EvidenceCheck): Set<string> {
  const found = new Set<string>();
  for (const [, n] of nodeRows(tx)) {
    if (n.status !== 'Trusted' || !n.attested_cert) continue;
    try {
      found.add(check(Buffer.from(new X509Certificate(n.attested_cert).raw), Number.MAX_SAFE_INTEGER).platform);
    } catch {
      /* a row whose evidence no longer verifies names no platform */
    }
  }
  return found;
}
