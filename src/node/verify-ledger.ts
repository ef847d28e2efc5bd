import { existsSync, readFileSync } from 'node:fs';
import { type LedgerReport, verifyLedger, verifyPostgresLedger } from '../store/ledger-verify.js';
import { loadConfig } from './config.js';
import { dataDirPaths } from './datadir.js';

/**
 * Verifies a data directory's ledger offline (`tessera ledger verify`), against the service certificate
 * at `serviceCertPath`, or the directory's own CA certificate by default. The ledger is where the
 * directory's tessera.toml keeps its state: the SQLite file, or a cluster's PostgreSQL (read in one
 * consistent snapshot).
 */
export async function verifyDataDirLedger(dir: string, serviceCertPath: string | undefined, onProgress?: (done: number, total: number) => void): Promise<LedgerReport> {
  const paths = dataDirPaths(dir);
  const cert = readFileSync(serviceCertPath ?? paths.caCert, 'utf8');
  const config = existsSync(paths.config) ? loadConfig(paths.config) : null;
  if (config?.store.backend === 'postgres') return verifyPostgresLedger(config.store.url, config.store.schema, cert, onProgress);
  return verifyLedger(paths.store, cert, onProgress);
}
