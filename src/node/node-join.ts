import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import type { Evidence } from '../attestation/evidence.js';
import { GOV } from '../governance/tables.js';
import { type NodeInfo, QUOTE_FORMAT, nodeIdOfPem, nodeRows } from '../governance/nodes.js';
import type { Store } from '../store/types.js';

// A node serves only once governance trusts it (CCF's Pending → Trusted). At start it records its fresh
// attestation in its row of public:ccf.gov.nodes.info; while Pending it waits, reading the shared store, before
// anything else starts; once Trusted it keeps watching, and stops the node if members retire it.

/** How often a waiting node reads its row, and how often a serving one checks it was not retired. */
const PENDING_POLL_MS = 1000;
const RETIRED_POLL_MS = 2000;

export interface TrustOptions {
  store: Store;
  logger: Logger;
  /** DATA/node/cert.pem: the node's identity, whose public key gives its id. */
  nodeCertPath: string;
  /** This start's attested TLS certificate and the evidence in it. */
  attested: { certPem: string; evidence: Evidence };
  /** Called once if governance retires the node while it serves. */
  onRetired: () => void;
  /** True once the node is stopping: the watch ends. */
  stopping: () => boolean;
}

export interface Trust {
  nodeId: string;
  stop(): void;
}

/** Returns once this node is Trusted; refuses a Retired or removed node; starts the watch for retirement. */
export async function awaitTrust(opts: TrustOptions): Promise<Trust> {
  const { store, logger } = opts;
  const nodeId = nodeIdOfPem(readFileSync(opts.nodeCertPath, 'utf8'));
  const { evidence } = opts.attested;
  const state = store.transact((tx) => {
    const rows = nodeRows(tx);
    const mine = tx.get<NodeInfo>(GOV.nodesInfo, nodeId);
    // An empty table: the service is the one node init made, Trusted from the start (nothing is written).
    if (!mine) return rows.length === 0 ? 'alone' : 'unknown';
    if (mine.status === 'Retired') return 'Retired';
    // A Trusted node restarted with other code or measured settings is not the node members trusted: no
    // action accepts a new measurement, so it is refused rather than recorded (and so made acceptable).
    if (mine.status === 'Trusted' && mine.measurement && mine.measurement !== evidence.mr_enclave) return 'Changed';
    tx.put<NodeInfo>(GOV.nodesInfo, nodeId, {
      ...mine,
      quote_info: { format: QUOTE_FORMAT[evidence.provider] ?? evidence.provider, quote: evidence.report, endorsements: evidence.auxiliary ?? '' },
      measurement: evidence.mr_enclave,
      attested_cert: opts.attested.certPem,
    });
    return mine.status;
  }).result as string;
  if (state === 'unknown') throw new TesseraError('permission_denied', `node ${nodeId} is not one of this service's nodes (public:ccf.gov.nodes.info): make nodes with tessera cluster add-node, or it was removed by governance (remove_node) before it was trusted`);
  if (state === 'Retired') throw new TesseraError('permission_denied', `node ${nodeId} was retired by governance (remove_node) and never serves again: make a new node with tessera cluster add-node`);
  if (state === 'Changed') throw new TesseraError('permission_denied', `node ${nodeId} was trusted with another measurement than this build and its measured settings give (${evidence.mr_enclave}): run the build and settings it was trusted with, or make a new node with tessera cluster add-node and have members trust it`);
  if (state === 'Pending') {
    logger.warn({ node_id: nodeId, status: 'Pending', measurement: evidence.mr_enclave }, `this node is Pending: it serves nothing until members trust it. Ask them to propose transition_node_to_trusted with node_id ${nodeId} (docs/cluster.md); Ctrl-C stops waiting`);
    for (;;) {
      await sleep(PENDING_POLL_MS);
      let status: string | undefined;
      try {
        status = store.read((tx) => tx.get<NodeInfo>(GOV.nodesInfo, nodeId)?.status);
      } catch (err) {
        // The store away for a moment does not end a node that may have waited for days.
        logger.warn({ err: (err as Error).message }, 'could not read this node\'s status while waiting to be trusted; trying again');
        continue;
      }
      if (status === 'Trusted') break;
      if (status === undefined) throw new TesseraError('permission_denied', `node ${nodeId} was removed by governance (remove_node) before it was trusted`);
      if (status === 'Retired') throw new TesseraError('permission_denied', `node ${nodeId} was retired by governance (remove_node)`);
    }
    logger.info({ node_id: nodeId, status: 'Trusted' }, 'members trusted this node (transition_node_to_trusted): starting');
  }
  let retired = false;
  // The first node of a service has no row until the first add-node records it Trusted: until then, no row
  // is no retirement. Once a row was seen, its disappearance is.
  let seen = state !== 'alone';
  const timer = setInterval(() => {
    if (opts.stopping()) return void clearInterval(timer);
    let status: string | undefined;
    try {
      status = store.read((tx) => tx.get<NodeInfo>(GOV.nodesInfo, nodeId)?.status);
    } catch (err) {
      return void logger.warn({ err: (err as Error).message }, 'could not read this node\'s status; trying again');
    }
    if (status !== undefined) seen = true;
    if (status === 'Trusted' || (status === undefined && !seen) || retired) return;
    retired = true;
    clearInterval(timer);
    logger.error({ node_id: nodeId, status: status ?? 'removed' }, 'governance retired this node (remove_node): it stops serving');
    opts.onRetired();
  }, RETIRED_POLL_MS);
  timer.unref();
  return { nodeId, stop: () => clearInterval(timer) };
}
