import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TesseraError } from '../../errors/index.js';
import { type ClientFlags, clientOptions, withClient } from '../client.js';
import { type OutputFlags, output, outputOptions, progressBar } from '../output.js';

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
  $ tessera file upload examples/functions/word-count/sample.txt --enclave-info enclave_info.toml --auditor godzilla.pub.pem:godzilla.sign.sha256
  $ tessera file list --insecure-skip-verification
${ENV_HINT}`,
    );

  clientOptions(file.command('upload <path>'))
    .description('Encrypt a file locally and upload it; prints its file id')
    .option('--name <name>', 'file name to record (default: the base name)')
    .addHelpText('after', '\nExample:\n  $ tessera file upload ./alice-set.bin -i ./tessera-data-identities/alice --insecure-skip-verification')
    .action(async (path: string, flags: ClientFlags & { name?: string }) => {
      // Before connecting: a typo in the path is said as such, not after a TLS handshake.
      if (!existsSync(path)) throw new TesseraError('not_found', `${path} does not exist`);
      if (!statSync(path).isFile()) throw new TesseraError('invalid_input', `${path} is not a file`);
      const bar = progressBar('upload');
      const id = await withClient(flags, (c) => c.uploadFile(path, { fileName: flags.name, onProgress: bar.update })).finally(bar.stop);
      console.log(id);
    });

  clientOptions(file.command('get <id>'))
    .description('Download and decrypt a file')
    .requiredOption('-o, --out <path>', 'where to write the plaintext')
    .addHelpText('after', '\nExample:\n  $ tessera file get <file-id> -o result.bin')
    .action(async (id: string, flags: ClientFlags & { out: string }) => {
      const folder = dirname(resolve(flags.out));
      if (!existsSync(folder)) throw new TesseraError('not_found', `--out ${flags.out}: the folder ${folder} does not exist; create it first`);
      if (existsSync(flags.out) && statSync(flags.out).isDirectory()) throw new TesseraError('invalid_input', `--out ${flags.out} is a folder: give a file path`);
      const bar = progressBar('download');
      await withClient(flags, (c) => c.downloadFile(id, flags.out, { onProgress: bar.update })).finally(bar.stop);
      console.log(flags.out);
    });

  outputOptions(clientOptions(file.command('list')))
    .description('List the ids of your files')
    .addHelpText('after', '\nExamples:\n  $ tessera file list\n  $ tessera file list --json')
    .action(async (flags: ClientFlags & OutputFlags) => {
      output(flags).ids(await withClient(flags, (c) => c.listFiles()));
    });

  clientOptions(file.command('rm <id>'))
    .description('Delete a file you own: its record, key and ciphertext')
    .addHelpText('after', '\nExample:\n  $ tessera file rm <file-id>')
    .action(async (id: string, flags: ClientFlags) => {
      const info = await withClient(flags, (c) => c.deleteFile(id));
      console.log(`deleted ${id} (${info.file_name}, ${info.file_size} bytes)`);
    });
}
