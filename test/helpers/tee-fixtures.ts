import 'reflect-metadata';
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { SNP } from '../../src/attestation/sev-snp.js';
import { TDX } from '../../src/attestation/tdx.js';

// Hardware reports built by the tests, with test keys standing in for AMD's and Intel's, so the
// verifiers run on machines without SEV-SNP or TDX.

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface TestChain {
  /** PEM bundle leaf, intermediate, root. */
  chainPem: string;
  rootPem: string;
  leafPem: string;
  midPem: string;
  leafKey: KeyObject;
  /** A CRL signed by the intermediate (listing the leaf if `revokeLeaf`), valid for a day. */
  crlPem: string;
}

export interface TestChainOptions {
  /** Extensions of the leaf (an AMD VCEK's SPLs and hwID: vcekExtensions()). */
  leafExtensions?: x509.Extension[];
  /** The intermediate's key usage; by default it may sign certificates and CRLs. */
  midKeyUsage?: x509.KeyUsageFlags;
  /** The leaf's validity; by default a minute ago to a day from now. */
  leafValidity?: { notBefore: Date; notAfter: Date };
  revokeLeaf?: boolean;
  /** The CRL's validity; by default a minute ago to a day from now. */
  crlValidity?: { thisUpdate: Date; nextUpdate: Date };
}

async function keyPair(curve: 'P-256' | 'P-384') {
  const alg = { name: 'ECDSA', namedCurve: curve, hash: curve === 'P-256' ? 'SHA-256' : 'SHA-384' };
  return { alg, keys: (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair };
}

/** root → intermediate → leaf, ECDSA on `curve`, named as `names` (leaf, intermediate, root). */
export async function testChain(curve: 'P-256' | 'P-384', names: [string, string, string], opts: TestChainOptions = {}): Promise<TestChain> {
  const now = Date.now();
  const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000) };
  const root = await keyPair(curve);
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: `CN=${names[2]}`, keys: root.keys, signingAlgorithm: root.alg, ...validity,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const mid = await keyPair(curve);
  const midCert = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: `CN=${names[1]}`, issuer: rootCert.subject, publicKey: mid.keys.publicKey, signingKey: root.keys.privateKey, signingAlgorithm: root.alg, ...validity,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(opts.midKeyUsage ?? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const leaf = await keyPair(curve);
  const leafCert = await x509.X509CertificateGenerator.create({
    serialNumber: '03', subject: `CN=${names[0]}`, issuer: midCert.subject, publicKey: leaf.keys.publicKey, signingKey: mid.keys.privateKey, signingAlgorithm: mid.alg,
    ...(opts.leafValidity ?? validity),
    extensions: opts.leafExtensions ?? [],
  });
  const crl = await x509.X509CrlGenerator.create({
    issuer: midCert.subject, signingKey: mid.keys.privateKey, signingAlgorithm: mid.alg,
    thisUpdate: opts.crlValidity?.thisUpdate ?? new Date(now - 60_000), nextUpdate: opts.crlValidity?.nextUpdate ?? new Date(now + 86_400_000),
    entries: opts.revokeLeaf ? [{ serialNumber: '03', revocationDate: new Date(now - 30_000) }] : [],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', leaf.keys.privateKey));
  return {
    chainPem: [leafCert, midCert, rootCert].map((c) => c.toString('pem')).join('\n'),
    rootPem: rootCert.toString('pem'),
    leafPem: leafCert.toString('pem'),
    midPem: midCert.toString('pem'),
    leafKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
    crlPem: crl.toString('pem'),
  };
}

/**
 * An AMD-shaped chain: ARK and ASK with RSA keys signing with RSASSA-PSS / SHA-384 (salt 48), as AMD's do
 * (2048-bit here, for speed; AMD's are 4096), a VCEK on P-384 with the platform's extensions, and a CRL the
 * ARK signs, as AMD's KDS serves one per product (it lists revoked ASKs).
 */
export async function amdChain(platform: TestSnpPlatform, opts: { revokeAsk?: boolean } = {}) {
  const now = Date.now();
  const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000) };
  const pss = { name: 'RSA-PSS', hash: 'SHA-384', saltLength: 48, publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const ark = (await webcrypto.subtle.generateKey(pss, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ask = (await webcrypto.subtle.generateKey(pss, true, ['sign', 'verify'])) as CryptoKeyPair;
  const vcek = await keyPair('P-384');
  const ca = (pathLength?: number) => [new x509.BasicConstraintsExtension(true, pathLength, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)];
  const arkCert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=ARK-Milan', keys: ark, signingAlgorithm: pss, ...validity, extensions: ca() });
  const askCert = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: 'CN=SEV-Milan', issuer: arkCert.subject, publicKey: ask.publicKey, signingKey: ark.privateKey, signingAlgorithm: pss, ...validity,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const vcekCert = await x509.X509CertificateGenerator.create({
    serialNumber: '03', subject: 'CN=SEV-VCEK', issuer: askCert.subject, publicKey: vcek.keys.publicKey, signingKey: ask.privateKey, signingAlgorithm: pss, ...validity,
    extensions: vcekExtensions(platform),
  });
  const crl = await x509.X509CrlGenerator.create({
    issuer: arkCert.subject, signingKey: ark.privateKey, signingAlgorithm: pss, thisUpdate: new Date(now - 60_000), nextUpdate: new Date(now + 86_400_000),
    entries: opts.revokeAsk ? [{ serialNumber: '02', revocationDate: new Date(now - 30_000) }] : [],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', vcek.keys.privateKey));
  return {
    chainPem: [vcekCert, askCert, arkCert].map((c) => c.toString('pem')).join('\n'),
    rootPem: arkCert.toString('pem'),
    leafKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
    crlPem: crl.toString('pem'),
  };
}

/** An SNP platform as a test makes one up: its chip id and reported TCB (Milan layout). */
export interface TestSnpPlatform {
  chipId: Buffer;
  tcb: { bootloader: number; tee: number; snp: number; microcode: number };
  /** The guest's launch measurement (48 bytes). */
  measurement: Buffer;
  /** Guest policy bit 19: debugging allowed. */
  debug?: boolean;
}

export const testSnpPlatform = (tcb = { bootloader: 3, tee: 0, snp: 8, microcode: 115 }): TestSnpPlatform => ({ chipId: randomBytes(64), tcb, measurement: randomBytes(48) });

/** A VCEK's AMD extensions (AMD VCEK specification): product name, the SPLs of the TCB it was issued for, and the chip's hwID. */
export function vcekExtensions(platform: TestSnpPlatform, product = 'Milan-B0'): x509.Extension[] {
  const int = (n: number) => new Uint8Array([0x02, 0x01, n]);
  const arc = '1.3.6.1.4.1.3704.1';
  return [
    new x509.Extension(`${arc}.2`, false, new Uint8Array(Buffer.concat([Buffer.from([0x16, product.length]), Buffer.from(product, "latin1")]))),
    new x509.Extension(`${arc}.3.1`, false, int(platform.tcb.bootloader)),
    new x509.Extension(`${arc}.3.2`, false, int(platform.tcb.tee)),
    new x509.Extension(`${arc}.3.3`, false, int(platform.tcb.snp)),
    new x509.Extension(`${arc}.3.8`, false, int(platform.tcb.microcode)),
    new x509.Extension(`${arc}.4`, false, new Uint8Array(platform.chipId)),
  ];
}

/** A SEV-SNP ATTESTATION_REPORT over `reportData`, signed by the chain's leaf (the "VCEK"), from `platform`. */
export function snpReport(reportData: Buffer, vcek: KeyObject, platform?: TestSnpPlatform): Buffer {
  const report = Buffer.alloc(SNP.size);
  report.writeUInt32LE(2, SNP.version);
  report.writeUInt32LE(1, SNP.signatureAlgo);
  reportData.copy(report, SNP.reportData);
  (platform?.measurement ?? randomBytes(48)).copy(report, SNP.measurement);
  if (platform) {
    report.writeBigUInt64LE(0x30000n | (platform.debug ? 1n << 19n : 0n), 0x08);
    const { bootloader, tee, snp, microcode } = platform.tcb;
    Buffer.from([bootloader, tee, 0, 0, 0, 0, snp, microcode]).copy(report, 0x180);
    platform.chipId.copy(report, 0x1a0);
  }
  const sig = sign('sha384', report.subarray(0, SNP.signedBytes), { key: vcek, dsaEncoding: 'ieee-p1363' });
  Buffer.from(sig.subarray(0, 48)).reverse().copy(report, SNP.signatureR);
  Buffer.from(sig.subarray(48, 96)).reverse().copy(report, SNP.signatureS);
  return report;
}

/** Intel's QE vendor id and TD QE signer, as in every real quote (test/fixtures/attestation/tdx). */
const INTEL_QE_VENDOR_ID = Buffer.from('939a7233f79c4ca9940a0db3957f0607', 'hex');
const INTEL_TD_QE_MRSIGNER = Buffer.from('dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5', 'hex');

export interface TdxQuoteOptions {
  breakQeBinding?: boolean;
  /** MRTD (48 bytes); random by default. */
  mrtd?: Buffer;
  /** A TD with TDATTRIBUTES.DEBUG set. */
  debug?: boolean;
  /** A quoting enclave signed by someone other than Intel. */
  qeSigner?: Buffer;
}

/** A TDX v4 quote over `reportData`: attestation key → QE report (Intel's TD QE) signed by the chain's leaf (the "PCK"). */
export function tdxQuote(reportData: Buffer, pck: TestChain, opts: TdxQuoteOptions = {}): Buffer {
  const head = Buffer.alloc(TDX.signedBytes);
  head.writeUInt16LE(4, 0);
  head.writeUInt16LE(2, 2);
  head.writeUInt32LE(TDX.teeType, 4);
  INTEL_QE_VENDOR_ID.copy(head, 12);
  (opts.mrtd ?? randomBytes(48)).copy(head, TDX.mrtd);
  if (opts.debug) head[TDX.headerBytes + 120] = 1;
  reportData.copy(head, TDX.reportData);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  const attRaw = Buffer.concat([Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  const quoteSig = sign('sha256', head, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const qeAuth = randomBytes(32);
  const qeReport = Buffer.alloc(TDX.qeReportBytes);
  (opts.qeSigner ?? INTEL_TD_QE_MRSIGNER).copy(qeReport, 128);
  qeReport.writeUInt16LE(2, 256);
  const binding = createHash('sha256').update(Buffer.concat([opts.breakQeBinding ? randomBytes(64) : attRaw, qeAuth])).digest();
  binding.copy(qeReport, TDX.qeReportDataOffset);
  const qeSig = sign('sha256', qeReport, { key: pck.leafKey, dsaEncoding: 'ieee-p1363' });
  const pem = Buffer.from(pck.chainPem);
  const authLen = Buffer.alloc(2);
  authLen.writeUInt16LE(qeAuth.length);
  const inner = Buffer.alloc(6);
  inner.writeUInt16LE(5, 0);
  inner.writeUInt32LE(pem.length, 2);
  const qeData = Buffer.concat([qeReport, qeSig, authLen, qeAuth, inner, pem]);
  const outer = Buffer.alloc(6);
  outer.writeUInt16LE(6, 0);
  outer.writeUInt32LE(qeData.length, 2);
  const sigData = Buffer.concat([quoteSig, attRaw, outer, qeData]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(sigData.length);
  return Buffer.concat([head, len, sigData]);
}

