import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { TesseraError } from '../../errors/index.js';
import { fetchReceipt, receiptVerdict } from '../../sdk/node-reads.js';
import { type PublicNodeFlags, publicNodeFromFlags, publicNodeOptions } from './public-node.js';

// `tessera ledger receipt TXID`: CCF's receipt for a committed transaction (GET /app/receipt, no identity
// needed), verified here, offline, against the service certificate: the leaf from its components, the
// proof up to the signed root, the node's signature, and the node's endorsement by the service.

export function registerLedgerReceipt(ledger: Command) {
  publicNodeOptions(ledger.command('receipt <txid>'))
    .description("Fetch a transaction's receipt from the node and verify it offline against the service certificate")
    .option('--service-cert <file>', 'the service certificate to verify against (default: the --ca file)')
    .option('--json', 'print the receipt (CCF v1 JSON) and the verdict as JSON')
    .addHelpText(
      'after',
      `
TXID is VIEW.SEQNO, the x-ms-ccf-transaction-id a write answered (tessera gov prints it as "tx 2.15").
Exits 0 when the receipt verifies, 1 when it does not or the node has none for TXID.

Example:
  $ tessera ledger receipt 2.1 --ca ./tessera-data/ca.pem`,
    )
    .action(async (txid: string, flags: PublicNodeFlags & { serviceCert?: string; json?: boolean }) => {
      const node = publicNodeFromFlags(flags);
      const serviceCert = flags.serviceCert ? readFileSync(flags.serviceCert, 'utf8') : node.ca;
      const receipt = await fetchReceipt(node, txid);
      const verdict = receiptVerdict(receipt, serviceCert);
      if (flags.json) console.log(JSON.stringify({ transaction_id: txid, receipt, verified: verdict.ok, ...(verdict.ok ? { root: verdict.root, leaf: verdict.leaf } : { reason: verdict.reason }) }, null, 2));
      else {
        console.log(`transaction  ${txid}`);
        console.log(`signed by    node ${receipt.node_id.slice(0, 16)}…`);
        if (verdict.ok) {
          console.log(`leaf         ${verdict.leaf}`);
          console.log(`root         ${verdict.root}`);
        }
      }
      if (!verdict.ok) throw new TesseraError('permission_denied', `receipt for ${txid} does NOT verify: ${verdict.reason}`);
      if (!flags.json) console.log(`receipt: ok (verified against ${flags.serviceCert ?? node.caPath})`);
    });
}
