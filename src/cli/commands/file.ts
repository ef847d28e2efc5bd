import type { Command } from 'commander';
import { type ClientFlags, clientOptions, progressBar, withClient } from '../client.js';

const ENV_HINT = `
Connection: --identity (or TESSERA_IDENTITY), --url (TESSERA_URL), and what you trust:
--enclave-info with one --auditor KEY:SIG per auditor (TESSERA_ENCLAVE_INFO, TESSERA_AUDITORS).`;

export function registerFile(program: Command) {
  const file = program
    .command('file')
    .description('Encrypted files on a node: upload (encrypted locally), download, list, delete')
    .addHelpText(
      'after',
      `
Examples:
  $ export TESSERA_IDENTITY=./tessera-data-identities/alice
  $ tessera file upload ./records.bin --enclave-info enclave_info.toml --auditor a.pub.pem:a.sign.sha256
  $ tessera file list --insecure-skip-verification
${ENV_HINT}`,
    );

  clientOptions(file.command('upload <path>'))
    .description('Encrypt a file locally and upload it; prints its file id')
    .option('--name <name>', 'file name to record (default: the base name)')
    .addHelpText('after', '\nExample:\n  $ tessera file upload ./alice.csv -i ./tessera-data-identities/alice --insecure-skip-verification')
    .action(async (path: string, flags: ClientFlags & { name?: string }) => {
      const bar = progressBar('upload');
      const id = await withClient(flags, (c) => c.uploadFile(path, { fileName: flags.name, onProgress: bar.update })).finally(bar.stop);
      console.log(id);
    });

  clientOptions(file.command('get <id>'))
    .description('Download and decrypt a file')
    .requiredOption('-o, --out <path>', 'where to write the plaintext')
    .addHelpText('after', '\nExample:\n  $ tessera file get 0a9ca5ac-2150-4bdd-ab63-c2c12252e747 -o result.bin')
    .action(async (id: string, flags: ClientFlags & { out: string }) => {
      const bar = progressBar('download');
      await withClient(flags, (c) => c.downloadFile(id, flags.out, { onProgress: bar.update })).finally(bar.stop);
      console.log(flags.out);
    });

  clientOptions(file.command('list'))
    .description('List the ids of your files')
    .addHelpText('after', '\nExample:\n  $ tessera file list')
    .action(async (flags: ClientFlags) => {
      for (const id of await withClient(flags, (c) => c.listFiles())) console.log(id);
    });

  clientOptions(file.command('rm <id>'))
    .description('Delete a file you own: its record, key and ciphertext')
    .addHelpText('after', '\nExample:\n  $ tessera file rm 0a9ca5ac-2150-4bdd-ab63-c2c12252e747')
    .action(async (id: string, flags: ClientFlags) => {
      const info = await withClient(flags, (c) => c.deleteFile(id));
      console.log(`deleted ${id} (${info.file_name}, ${info.file_size} bytes)`);
    });
}
