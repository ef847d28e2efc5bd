import { seal } from '../crypto/aead.js';
import type { CommittedWrite } from './types.js';

/**
 * A private table's write as the ledger (txlog) keeps it: sealed with the ledger key, bound to the sequence
 * number and to the table under its stored name. Shared by every Store backend (sqlite.ts, postgres-worker.ts)
 * so that their logs are alike.
 */
export function sealLedgerWrite(ledgerKey: Buffer, seqno: number, storedTable: string, w: CommittedWrite): { table: string; sealed: string } {
  return { table: storedTable, sealed: seal(ledgerKey, Buffer.from(JSON.stringify({ key: w.key, value: w.value })), Buffer.from(`${seqno}\0${storedTable}`)).toString('base64') };
}
