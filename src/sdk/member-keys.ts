import 'reflect-metadata';
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../crypto/certificates.js';
import { TesseraError } from '../errors/index.js';

// A prospective member's own key pair and certificate (`tessera gov keygen`), as CCF's keygenerator.sh
// makes one: the key never leaves the member's machine; only the certificate goes into the set_member
// proposal. The certificate is self-signed: a member is whoever the consortium voted in, not whoever the
// node's CA signed. Its CN is the name the node will know the member by.

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export async function newMemberKeyPair(name: string, validDays = 825): Promise<{ certPem: string; keyPem: string }> {
  // The node's rule for principal names (identity/principals.ts): a CN outside it would not become the member's name.
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/.test(name)) throw new TesseraError('invalid_input', `invalid member name '${name}': use 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter, digit or '_'`);
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: `CN=${name}, OU=member`,
    // Backdated by the allowed clock skew, so a node whose clock is behind this machine's accepts it at once.
    notBefore: new Date(now - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter: new Date(now + validDays * 86_400_000),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
  return { certPem: cert.toString('pem'), keyPem };
}
