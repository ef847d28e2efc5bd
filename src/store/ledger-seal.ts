import { seal, unseal } from '../crypto/aead.js';
import { TesseraError } from '../errors/index.js';
import type { CommittedWrite } from './types.js';

/**
 * A private table's write as the ledger (txlog) keeps it: sealed with the ledger key, bound to the sequence
 * number and to the table under its stored name. Shared by every Store backend (sqlite.ts, postgres-worker.ts)
 * so that their logs are alike.
 */
export function sealLedgerWrite(ledgerKey: Buffer, seqno: number, storedTable: string, w: CommittedWrite): { table: string; sealed: string } {
  return { table: storedTable, sealed: seal(ledgerKey, Buffer.from(JSON.stringify({ key: w.key, value: w.value })), Buffer.from(`${seqno}\0${storedTable}`)).toString('base64') };
}

/** Opens a write sealed by sealLedgerWrite (historical queries, on every backend). */
export function unsealLedgerWrite(ledgerKey: Buffer | undefined, seqno: number, w: { table: string; sealed: string }): { key: string; value: unknown } {
  if (!ledgerKey) throw new TesseraError('internal', 'the ledger key is needed to read private tables historically');
  return JSON.parse(unseal(ledgerKey, Buffer.from(w.sealed, 'base64'), Buffer.from(`${seqno}\0${w.table}`)).toString('utf8'));
}
