import type { Command } from 'commander';
import { generateKeyPairSync, createPrivateKey, sign } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadAuditorKey, verifyEnclaveInfo } from '../../attestation/enclave-info.js';
import { enclaveInfoToml, measure } from '../../attestation/measurement.js';
import { TesseraError } from '../../errors/index.js';
import { writeSecretFile } from '../../identity/provision.js';
import { loadConfig, resolveConfig } from '../../node/config.js';
import { dataDirPaths, DEFAULT_DATA_DIR } from '../../node/datadir.js';
import { measuredSettings } from '../../node/measured-settings.js';

/** One `--auditor PUBLIC_KEY:SIGNATURE` value, as the audit and client commands take it. */
export function splitAuditorPair(pair: string): { keyPath: string; signaturePath: string; name: string } {
  const [keyPath, signaturePath] = pair.split(':');
  if (!keyPath || !signaturePath) throw new TesseraError('invalid_input', `--auditor takes PUBLIC_KEY:SIGNATURE, not '${pair}'`);
  return { keyPath, signaturePath, name: basename(keyPath).replace(/\.(pub\.)?(pem|der)$/, '') };
}

function parseAuditorPairs(pairs: string[]) {
  return pairs.map((pair) => {
    const { keyPath, signaturePath, name } = splitAuditorPair(pair);
    return { name, key: loadAuditorKey(readFileSync(keyPath)), signature: readFileSync(signaturePath) };
  });
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerMeasure(program: Command) {
  program
    .command('measure')
    .description("Print the node's enclave_info.toml: the measurement of this installation's code, dependencies and measured settings")
    .option('-d, --data <dir>', 'data directory whose tessera.toml supplies the measured settings (defaults if absent)', DEFAULT_DATA_DIR)
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .addHelpText('after', '\nExample:\n  $ tessera measure --data ./node1 -o enclave_info.toml\n\nAuditors then sign that file with `tessera audit sign`.')
    .action((opts: { data: string; out?: string }) => {
      const path = dataDirPaths(opts.data).config;
      const config = existsSync(path) ? loadConfig(path) : resolveConfig({});
      if (!existsSync(path)) process.stderr.write(`note: no ${path}; measuring with default settings\n`);
      const toml = enclaveInfoToml(measure(measuredSettings(config)));
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
      if (opts.type !== 'rsa' && opts.type !== 'ecdsa') throw new TesseraError('invalid_input', `--type is rsa or ecdsa, not '${opts.type}'`);
      const { privateKey, publicKey } =
        opts.type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 4096 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const keyPath = join(opts.out, `${name}.key.pem`);
      const pubPath = join(opts.out, `${name}.pub.${opts.der ? 'der' : 'pem'}`);
      if (existsSync(keyPath) || existsSync(pubPath)) throw new TesseraError('conflict', `${keyPath} or ${pubPath} exists already; keygen never overwrites`);
      writeSecretFile(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
      const pub = opts.der
        ? publicKey.export({ format: 'der', type: opts.type === 'rsa' ? 'pkcs1' : 'spki' })
        : publicKey.export({ format: 'pem', type: 'spki' });
      writeFileSync(pubPath, pub, { flag: 'wx' });
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
      const key = createPrivateKey(readFileSync(opts.key));
      if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') throw new TesseraError('invalid_input', 'auditor keys are RSA or ECDSA P-256');
      const signature = sign('sha256', readFileSync(file), key);
      const out = opts.out || join(dirname(file), `${basename(opts.key).replace(/\.key\.pem$|\.pem$/, '')}.sign.sha256`);
      writeFileSync(out, signature);
      console.log(`signed ${file} → ${out}`);
    });

  audit
    .command('verify <file>')
    .description('Check that every auditor signature verifies over the file, and print its SHA-256')
    .option('--auditor <key:sig>', 'an auditor public key and its signature file; repeat for each auditor', collect, [])
    .addHelpText('after', '\nExample:\n  $ tessera audit verify enclave_info.toml --auditor a.pub.pem:a.sign.sha256 --auditor b.pub.der:b.sign.sha256')
    .action((file: string, opts: { auditor: string[] }) => {
      const verified = verifyEnclaveInfo(readFileSync(file), parseAuditorPairs(opts.auditor));
      for (const name of verified.auditors) console.log(`ok  ${name}`);
      console.log(`sha256 ${verified.digest}`);
      for (const [service, m] of Object.entries(verified.services)) console.log(`  [${service}] mr_enclave ${m.mr_enclave}`);
    });
}
