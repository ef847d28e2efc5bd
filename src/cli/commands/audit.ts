import type { Command } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { TesseraError } from '../../errors/index.js';
import { loadConfig, resolveConfig } from '../../node/config.js';
import { dataDirPaths } from '../../node/datadir.js';
import { dataDirOf } from '../target.js';
import { EXIT, withExitCode } from '../failure.js';
import { enclaveInfoFor } from '../../node/measured-settings.js';
import { createAuditorKeys, signAsAuditor, verifyAuditorSignatures } from '../../sdk/auditor.js';

/** One `--auditor PUBLIC_KEY:SIGNATURE` value, as the audit and client commands take it. */
export function splitAuditorPair(pair: string): { keyPath: string; signaturePath: string; name: string } {
  const [keyPath, signaturePath] = pair.split(':');
  if (!keyPath || !signaturePath) throw new TesseraError('invalid_input', `--auditor takes PUBLIC_KEY:SIGNATURE, not '${pair}'`);
  return { keyPath, signaturePath, name: basename(keyPath).replace(/\.(pub\.)?(pem|der)$/, '') };
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerMeasure(program: Command) {
  program
    .command('measure')
    .description("Print the node's enclave_info.toml: the measurement of this installation's code, dependencies and measured settings")
    .option('-d, --data <dir>', 'data directory whose tessera.toml supplies the measured settings, defaults if absent (or $TESSERA_DATA)', dataDirOf())
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .addHelpText('after', '\nExample:\n  $ tessera measure --data ./tessera-data -o enclave_info.toml\n\nAuditors then sign that file with `tessera audit sign`.')
    .action((opts: { data: string; out?: string }) => {
      const path = dataDirPaths(opts.data).config;
      const config = existsSync(path) ? loadConfig(path) : resolveConfig({});
      if (!existsSync(path)) process.stderr.write(`note: no ${path}; measuring with default settings\n`);
      const toml = enclaveInfoFor(config);
      if (opts.out) writeFileSync(opts.out, toml);
      else process.stdout.write(toml);
    });
}

export function registerAudit(program: Command) {
  const audit = program
    .command('audit')
    .description('Auditor tools: make keys, sign enclave_info.toml, verify signatures')
    .addHelpText(
      'after',
      `
Examples:
  $ tessera audit keygen godzilla                      # godzilla.key.pem, godzilla.pub.pem
  $ tessera audit sign --key godzilla.key.pem enclave_info.toml
  $ tessera audit verify enclave_info.toml --auditor godzilla.pub.pem:godzilla.sign.sha256`,
    );

  audit
    .command('keygen <name>')
    .description('Make an auditor key pair: NAME.key.pem (private, 0600) and NAME.pub.pem (or NAME.pub.der)')
    .option('--type <type>', 'rsa (4096-bit, signing RSA PKCS#1 v1.5 SHA-256, as MesaTEE) or ecdsa (P-256)', 'rsa')
    .option('--der', 'write the public key as DER (PKCS#1 for RSA, as MesaTEE ships them; SPKI for ECDSA)')
    .option('--out <dir>', 'folder to write to', '.')
    .addHelpText('after', '\nExample:\n  $ tessera audit keygen optimus_prime --type ecdsa --out ./auditors')
    .action((name: string, opts: { type: string; der?: boolean; out: string }) => {
      const { keyPath, pubPath } = createAuditorKeys(name, opts);
      console.log(`private key  ${keyPath}  (keep it secret)`);
      console.log(`public key   ${pubPath}  (publish it)`);
    });

  audit
    .command('sign <file>')
    .description("Sign a file's exact bytes (detached): RSA PKCS#1 v1.5 or ECDSA P-256, with SHA-256")
    .requiredOption('--key <key>', 'the auditor private key (PEM)')
    .option('-o, --out <sig>', 'signature file', '')
    .addHelpText('after', '\nExample:\n  $ tessera audit sign --key godzilla.key.pem enclave_info.toml -o godzilla.sign.sha256')
    .action((file: string, opts: { key: string; out: string }) => {
      const out = signAsAuditor(file, opts.key, opts.out);
      console.log(`signed ${file} → ${out}`);
    });

  audit
    .command('verify <file>')
    .description('Check that every auditor signature verifies over the file, and print its SHA-256')
    .option('--auditor <key:sig>', 'an auditor public key and its signature file; repeat for each auditor', collect, [])
    .addHelpText('after', '\nExample:\n  $ tessera audit verify enclave_info.toml --auditor godzilla.pub.pem:godzilla.sign.sha256\n\nExits 4 if a signature does not verify.')
    .action((file: string, opts: { auditor: string[] }) => {
      if (!opts.auditor.length) throw new TesseraError('invalid_input', 'no auditors given: pass --auditor PUBLIC_KEY:SIGNATURE for each auditor whose signature to check');
      let verified;
      try {
        verified = verifyAuditorSignatures(readFileSync(file), opts.auditor.map(splitAuditorPair));
      } catch (err) {
        // A signature that does not verify is exit 4 (docs/cli.md), apart from a command that is wrong.
        if (err instanceof TesseraError && err.code === 'permission_denied') throw withExitCode(err, EXIT.verification);
        throw err;
      }
      for (const name of verified.auditors) console.log(`ok  ${name}`);
      console.log(`sha256 ${verified.digest}`);
      for (const [service, m] of Object.entries(verified.services)) console.log(`  [${service}] mr_enclave ${m.mr_enclave}`);
    });
}
