import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { TesseraError } from '../../errors/index.js';
import { dataDirPaths } from '../../node/datadir.js';
import { verifyDataDirLedger } from '../../node/verify-ledger.js';
import { EXIT } from '../failure.js';
import { type OutputFlags, output, outputOptions, progressBar } from '../output.js';
import { dataDirOf } from '../target.js';
import { registerLedgerReceipt } from './ledger-receipt.js';

export function registerLedger(program: Command) {
  const ledger = program
    .command('ledger')
    .description('The verifiable ledger')
    .addHelpText('after', '\nExamples:\n  $ tessera ledger verify ./tessera-data          # offline: every write set, root and signature\n  $ tessera ledger receipt 2.1 --ca ./tessera-data/ca.pem   # one transaction, from the node');
  outputOptions(ledger.command('verify [dir]'))
    .description("Verify a data directory's ledger offline: write sets, leaves, signed roots, signatures, node endorsements")
    .option('--service-cert <file>', 'the service identity certificate (default: DIR/ca.pem)')
    .addHelpText(
      'after',
      `\nDIR defaults to $TESSERA_DATA, else ./tessera-data.\n\nExamples:\n  $ tessera ledger verify ./tessera-data\n  $ tessera ledger verify ./backup --json\n\nExits ${EXIT.verification} and lists every problem if anything does not verify.`,
    )
    .action(async (dir: string | undefined, opts: { serviceCert?: string } & OutputFlags) => {
      const root = dataDirOf(dir);
      const paths = dataDirPaths(root);
      if (!existsSync(root)) throw new TesseraError('not_found', `no data directory at ${root}: give the folder a node runs on (as \`tessera serve --data\` takes it)`);
      if (!existsSync(paths.store) && !existsSync(paths.config)) throw new TesseraError('not_found', `${root} holds no ledger (no ${paths.store}): is it a data directory?`);
      if (!opts.serviceCert && !existsSync(paths.caCert)) throw new TesseraError('not_found', `${root} has no ca.pem: pass --service-cert with the service identity certificate`);
      if (opts.serviceCert && !existsSync(opts.serviceCert)) throw new TesseraError('not_found', `--service-cert ${opts.serviceCert} does not exist`);
      const bar = progressBar('verify', { unit: 'transactions' });
      const report = await verifyDataDirLedger(root, opts.serviceCert, bar.update);
      bar.stop();
      const out = output(opts);
      out.result({ ok: report.problems.length === 0, ...report }, () => [
        `${report.transactions} transactions, ${report.signatures} signatures, last signed ${report.lastSigned ?? 'none'}${report.unsigned ? `, ${report.unsigned} not yet signed` : ''}`,
        ...(report.problems.length ? [] : ['ledger: ok']),
      ]);
      if (report.problems.length) {
        if (!out.json) for (const p of report.problems) console.error(`problem: ${p}`);
        process.exitCode = EXIT.verification;
      }
    });
  registerLedgerReceipt(ledger);
}
