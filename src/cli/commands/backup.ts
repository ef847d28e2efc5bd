import type { Command } from 'commander';
import { backupDataDir } from '../../node/backup.js';
import { DEFAULT_DATA_DIR } from '../../node/datadir.js';
import { restoreDataDir } from '../../node/restore.js';
import { progressBar } from '../client.js';

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

/** `tessera backup` and `tessera restore` (docs/backup.md). */
export function registerBackup(program: Command) {
  program
    .command('backup')
    .description('Copy a data directory into one file while the node runs: consistent, still sealed (no sealing key, no credentials)')
    .option('-d, --data <dir>', 'data directory (or $TESSERA_DATA)', process.env.TESSERA_DATA ?? DEFAULT_DATA_DIR)
    .requiredOption('-o, --out <file>', 'the backup file to write (a tar); never written over')
    .addHelpText(
      'after',
      `
Example:
  $ tessera backup --data ./tessera-data --out ./tessera-backup.tar

The backup is useless without the sealing key, which it does not hold: keep a copy of the key apart.`,
    )
    .action(async (opts: { data: string; out: string }) => {
      const bar = progressBar('backup');
      const report = await backupDataDir({ dir: opts.data, out: opts.out, onProgress: bar.update }).finally(bar.stop);
      console.log(`Backed up ${opts.data} into ${report.out}: ${report.files} files, ${mib(report.bytes)}, ledger at transaction ${report.lastSeqno}, store schema version ${report.schemaVersion}`);
    });

  program
    .command('restore')
    .description('Unpack a backup into a new data directory, after checking every file against its manifest')
    .requiredOption('--from <file>', 'the file `tessera backup` wrote')
    .requiredOption('-d, --data <dir>', 'the data directory to create (absent or empty)')
    .addHelpText(
      'after',
      `
Example:
  $ tessera restore --from ./tessera-backup.tar --data ./tessera-restored

The node that serves it needs the sealing key of the node that was backed up.`,
    )
    .action(async (opts: { from: string; data: string }) => {
      const bar = progressBar('restore');
      const report = await restoreDataDir({ from: opts.from, dir: opts.data, onProgress: bar.update }).finally(bar.stop);
      console.log(`Restored ${report.files} files (${mib(report.bytes)}, ledger at transaction ${report.manifest.ledger_last_seqno}) into ${report.dir}`);
      // The data is restored either way: the right key may simply not be in place yet.
      if (!report.sealingKey.opens) console.error(`warning: ${report.sealingKey.why}; a node on ${opts.data} needs the sealing key of the node that was backed up`);
      console.log(`Next: tessera serve --data ${opts.data}   (with the sealing key of the node that was backed up)`);
    });
}
