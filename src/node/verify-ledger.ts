import { readFileSync } from 'node:fs';
import { type LedgerReport, verifyLedger } from '../store/ledger-verify.js';
import { dataDirPaths } from './datadir.js';

/**
 * Verifies a data directory's ledger offline (`tessera ledger verify`), against the service certificate
 * at `serviceCertPath`, or the directory's own CA certificate by default.
 */
export function verifyDataDirLedger(dir: string, serviceCertPath: string | undefined, onProgress?: (done: number, total: number) => void): LedgerReport {
  const paths = dataDirPaths(dir);
  return verifyLedger(paths.store, readFileSync(serviceCertPath ?? paths.caCert, 'utf8'), onProgress);
}
