import type { Command } from 'commander';
import { DEFAULT_DATA_DIR } from '../../node/datadir.js';
import { verifyDataDirLedger } from '../../node/verify-ledger.js';
import { progressBar } from '../client.js';
import { registerLedgerReceipt } from './ledger-receipt.js';

export function registerLedger(program: Command) {
  const ledger = program.command('ledger').description('The verifiable ledger');
  ledger
    .command('verify [dir]')
    .description("Verify a data directory's ledger offline: write sets, leaves, signed roots, signatures, node endorsements")
    .option('--service-cert <file>', 'the service identity certificate (default: DIR/ca.pem)')
    .addHelpText('after', '\nExample:\n  $ tessera ledger verify ./tessera-data\n\nExits 1 and lists every problem if anything does not verify.')
    .action((dir: string | undefined, opts: { serviceCert?: string }) => {
      const bar = progressBar('verify');
      const report = verifyDataDirLedger(dir ?? DEFAULT_DATA_DIR, opts.serviceCert, bar.update);
      bar.stop();
      console.log(`${report.transactions} transactions, ${report.signatures} signatures, last signed ${report.lastSigned ?? 'none'}${report.unsigned ? `, ${report.unsigned} not yet signed` : ''}`);
      if (report.problems.length) {
        for (const p of report.problems) console.error(`problem: ${p}`);
        process.exitCode = 1;
      } else console.log('ledger: ok');
    });
  registerLedgerReceipt(ledger);
}
