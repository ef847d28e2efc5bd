import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs it before it loads
import { X509Certificate, verify } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import { TesseraError } from '../errors/index.js';
import { pemCertificates, verifyChain } from './chain.js';
import type { Crl } from './crl.js';
import { TDX } from './tdx.js';

// Intel TDX: the platform's TCB judged against Intel's signed collateral (issue 23), the way Intel's Quote
// Verification Library does it (intel/SGX-TDX-DCAP-QuoteVerificationLibrary, Src/AttestationLibrary/src/Verifiers:
// QuoteVerifier.cpp, Checks/TcbLevelCheck.cpp, Checks/TdxModuleCheck.cpp, Checks/TDRelaunchCheck.cpp,
// EnclaveReportVerifier.cpp, TCBInfoVerifier.cpp), cross-checked with Phala-Network/dcap-qvl (src/verify.rs).
// The numbers in comments ("4.1.2.4.17") are the steps of Intel's specification that QVL cites.
// This module returns the statuses; which of them to accept is a policy decision made elsewhere.
// docs/trust-model.md ("The platform's TCB") describes it for operators.

/** Intel's signed collateral for one platform (FMSPC), as Intel PCS (or a PCCS cache) serves it. */
export interface TdxCollateral {
  /** Intel PCS TCB Info response body, exactly as published: {"tcbInfo":{...},"signature":"<hex r||s>"} (id TDX, version 3). */
  tcbInfo: string;
  /** Intel PCS QE Identity response body, exactly as published: {"enclaveIdentity":{...},"signature":"<hex r||s>"} (id TD_QE). */
  qeIdentity?: string;
  /** PEM chain of the Intel SGX TCB Signing certificate (PCS's TCB-Info-Issuer-Chain header), signing certificate first, ending at Intel's root. */
  signingChain: string;
}

/** Intel's TCB statuses (TCB Info tcbStatus values and the two TD relaunch statuses QVL derives for TD 1.5). */
export type TdxTcbStatus =
  | 'UpToDate'
  | 'SWHardeningNeeded'
  | 'ConfigurationNeeded'
  | 'ConfigurationAndSWHardeningNeeded'
  | 'OutOfDate'
  | 'OutOfDateConfigurationNeeded'
  | 'TDRelaunchAdvised'
  | 'TDRelaunchAdvisedConfigurationNeeded'
  | 'Revoked';

export interface TdxTcb {
  /** The platform's TCB status: the TDX TCB level's, converged with the TDX module's and the quoting enclave's as Intel QVL does. */
  status: TdxTcbStatus;
  /** Intel security advisories (INTEL-SA-…) of the matched TCB level, TDX module level and QE level, without repeats. */
  advisoryIds: string[];
  /** tcbDate of the matched TDX TCB level. */
  tcbDate: string;
  /** The matched TDX TCB level's own status, before converging. */
  platformStatus: TdxTcbStatus;
  /** The platform's FMSPC (lowercase hex), read from the PCK certificate. */
  fmspc: string;
  /** The TCB Info's tcbEvaluationDataNumber (Intel's TCB recovery counter). */
  tcbEvaluationDataNumber: number;
  /** The TDX module identity (TDX_<version>) matched, its ISVSVN and its level's status; absent for a module version 0. */
  tdxModule?: { id: string; isvsvn: number; status: TdxTcbStatus; tcbDate: string };
  /** The quoting enclave's TCB status from the QE Identity (UpToDate, OutOfDate, Revoked, …); absent without QE Identity. */
  qeStatus?: string;
  /** tcbDate of the matched QE Identity level. */
  qeTcbDate?: string;
  /** When the collateral used stops being current: the earliest nextUpdate of TCB Info and QE Identity. */
  collateralNextUpdate: string;
}

export interface TdxTcbInput {
  /** The raw TDX quote (v4 or v5). Its signature and PCK chain are verifyTdx's to check; this reads its TCB fields. */
  quote: Buffer;
  /** The quote's PCK certificate (the leaf of its chain, already checked to chain to Intel's root). */
  pck: X509Certificate;
  collateral: TdxCollateral;
  /** The time at which the collateral must be current and its signing certificates valid. */
  at: Date;
  /** Intel SGX Root CA certificates trusted for the collateral's signing chain (matched by SHA-256 fingerprint). */
  intelRoots: X509Certificate[];
  /** CRLs at hand: Intel's Root CA CRL covers the TCB Signing certificate. */
  crls?: Crl[];
}

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);
const PCS = 'fetch current collateral from Intel PCS (https://api.trustedservices.intel.com/tdx/certification/v4/) or the PCCS cache that serves this verifier';

// ---------------------------------------------------------------------------------------------------------------
// The quote's fields read here (Intel TDX DCAP Quoting Library API, "Quote Format"; TD report as in tdx.ts).

interface QuoteParts {
  version: number;
  /** 16 bytes: [0] TDX module ISVSVN, [1] TDX module version, the rest TDX TCB components. */
  teeTcbSvn: Buffer;
  mrSignerSeam: Buffer;
  seamAttributes: Buffer;
  /** TD report 1.5 only (v5 body type 3): the TEE_TCB_SVN of the module the TD would run after a relaunch. */
  teeTcbSvn2?: Buffer;
  /** The quoting enclave's SGX report (384 bytes) and its signature by the PCK. */
  qeReport: Buffer;
  qeReportSignature: Buffer;
}

function quoteParts(q: Buffer): QuoteParts {
  const short = () => fail(`the TDX quote is ${q.length} bytes, too short for its fields`);
  if (q.length < TDX.headerBytes + 6) throw short();
  const version = q.readUInt16LE(0);
  if (q.readUInt32LE(4) !== TDX.teeType) throw fail('the quote is not from a TDX trust domain');
  let body: number;
  let bodyType = 2;
  if (version === 4) body = TDX.headerBytes;
  else if (version === 5) {
    bodyType = q.readUInt16LE(TDX.headerBytes);
    if (bodyType !== 2 && bodyType !== 3) throw fail(`TDX quote v5 body type ${bodyType} is not a TD report (2 or 3)`);
    body = TDX.headerBytes + 6;
  } else throw fail(`TDX quote version ${version} is not supported (4 or 5)`);
  const bodyBytes = bodyType === 3 ? TDX.bodyBytes + 64 : TDX.bodyBytes;
  let at = body + bodyBytes + 4 + 64 + 64; // signature data length, quote signature, attestation key
  if (q.length < at + 6 + TDX.qeReportBytes + 64) throw short();
  if (q.readUInt16LE(at) !== 6) throw fail(`TDX certification data type ${q.readUInt16LE(at)} is not QE report data (6)`);
  at += 6;
  return {
    version,
    teeTcbSvn: q.subarray(body, body + 16),
    mrSignerSeam: q.subarray(body + 64, body + 112),
    seamAttributes: q.subarray(body + 112, body + 120),
    teeTcbSvn2: bodyType === 3 ? q.subarray(body + TDX.bodyBytes, body + TDX.bodyBytes + 16) : undefined,
    qeReport: q.subarray(at, at + TDX.qeReportBytes),
    qeReportSignature: q.subarray(at + TDX.qeReportBytes, at + TDX.qeReportBytes + 64),
  };
}

/** The fields of the QE's SGX report (SGX REPORTBODY) that QE Identity constrains. */
const qeReportFields = (r: Buffer) => ({
  miscselect: r.readUInt32LE(16),
  attributes: r.subarray(48, 64),
  mrsigner: r.subarray(128, 160),
  isvprodid: r.readUInt16LE(256),
  isvsvn: r.readUInt16LE(258),
});

// ---------------------------------------------------------------------------------------------------------------
// The PCK certificate's Intel SGX extension (Intel SGX PCK Certificate and CRL Profile): a SEQUENCE of
// SEQUENCE { OID, value }: PPID .1, TCB .2 (components .2.1–.2.16, PCESVN .2.17, CPUSVN .2.18), PCE-ID .3,
// FMSPC .4, SGX type .5, …

const SGX_EXTENSION = '1.2.840.113741.1.13.1';

interface PckTcb {
  /** The 16 SGX TCB component SVNs. */
  components: number[];
  pcesvn: number;
  pceId: string;
  fmspc: string;
}

export function pckTcb(pck: X509Certificate): PckTcb {
  const ext = new x509.X509Certificate(pck.raw).getExtension(SGX_EXTENSION);
  if (!ext) throw fail('the PCK certificate has no Intel SGX extension (1.2.840.113741.1.13.1), so its TCB cannot be read');
  const bad = (what: string) => fail(`the PCK certificate's Intel SGX extension is malformed: ${what}`);
  const pairs = (node: asn1js.AsnType, where: string): Map<string, asn1js.AsnType> => {
    if (!(node instanceof asn1js.Sequence)) throw bad(`${where} is not a SEQUENCE`);
    const out = new Map<string, asn1js.AsnType>();
    for (const item of node.valueBlock.value) {
      if (!(item instanceof asn1js.Sequence) || item.valueBlock.value.length !== 2) throw bad(`an entry of ${where} is not an (OID, value) pair`);
      const [id, value] = item.valueBlock.value;
      if (!(id instanceof asn1js.ObjectIdentifier)) throw bad(`an entry of ${where} does not start with an OID`);
      out.set(id.valueBlock.toString(), value);
    }
    return out;
  };
  const bytes = new Uint8Array(ext.value);
  const decoded = asn1js.fromBER(bytes);
  if (decoded.offset !== bytes.byteLength) throw bad('it is not one DER value');
  const top = pairs(decoded.result, 'the extension');
  const octets = (oid: string, name: string, size: number) => {
    const v = top.get(oid);
    if (!(v instanceof asn1js.OctetString) || v.valueBlock.valueHexView.length !== size) throw bad(`${name} (${oid}) is missing or not ${size} bytes`);
    return Buffer.from(v.valueBlock.valueHexView).toString('hex');
  };
  const integer = (v: asn1js.AsnType | undefined, name: string, max: number) => {
    if (!(v instanceof asn1js.Integer)) throw bad(`${name} is missing or not an INTEGER`);
    const n = v.valueBlock.valueDec;
    if (!Number.isSafeInteger(n) || n < 0 || n > max) throw bad(`${name} is ${n}, outside 0..${max}`);
    return n;
  };
  const tcb = pairs(top.get(`${SGX_EXTENSION}.2`) ?? new asn1js.Null(), 'its TCB (.2)');
  return {
    components: Array.from({ length: 16 }, (_, i) => integer(tcb.get(`${SGX_EXTENSION}.2.${i + 1}`), `TCB component ${i + 1}`, 255)),
    pcesvn: integer(tcb.get(`${SGX_EXTENSION}.2.17`), 'PCESVN', 0xffff),
    pceId: octets(`${SGX_EXTENSION}.3`, 'PCE-ID', 2),
    fmspc: octets(`${SGX_EXTENSION}.4`, 'FMSPC', 6),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Signed JSON: the signature covers the exact bytes of the inner object as published, so it is cut out of
// the response text, never re-serialised.

/** The end (exclusive) of the JSON value starting at s[i]; the value's syntax is checked by JSON.parse later. */
function valueEnd(s: string, i: number): number {
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const c = s[j];
    if (c === '"') {
      for (j++; j < s.length && s[j] !== '"'; j++) if (s[j] === '\\') j++;
      if (depth === 0) return j + 1;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return j + 1;
      if (depth < 0) return j;
    } else if (depth === 0 && (c === ',' || /\s/.test(c))) return j;
  }
  return s.length;
}

/** The raw text of each top-level member of a JSON object, in order; a repeated member is refused. */
function members(text: string, what: string): Map<string, string> {
  const bad = () => fail(`the ${what} is not a JSON object as Intel PCS publishes it`);
  try {
    JSON.parse(text);
  } catch {
    throw bad();
  }
  const out = new Map<string, string>();
  const ws = (i: number) => {
    while (i < text.length && /\s/.test(text[i])) i++;
    return i;
  };
  let i = ws(0);
  if (text[i] !== '{') throw bad();
  i = ws(i + 1);
  while (text[i] !== '}') {
    const keyEnd = valueEnd(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = ws(keyEnd);
    if (text[i] !== ':') throw bad();
    i = ws(i + 1);
    const end = valueEnd(text, i);
    if (out.has(key)) throw fail(`the ${what} has the member "${key}" twice`);
    out.set(key, text.slice(i, end));
    i = ws(end);
    if (text[i] === ',') i = ws(i + 1);
  }
  return out;
}

/** Checks a PCS response's signature with the TCB Signing key and returns its inner object. */
function signedObject(body: string, member: 'tcbInfo' | 'enclaveIdentity', signer: X509Certificate, what: string): Record<string, unknown> {
  const parts = members(body, what);
  const raw = parts.get(member);
  const sig = parts.get('signature');
  if (raw === undefined || !raw.startsWith('{') || sig === undefined) {
    throw fail(`the ${what} has no "${member}" object and "signature": pass the response body of Intel PCS unchanged`);
  }
  const signature = JSON.parse(sig) as unknown;
  if (typeof signature !== 'string' || !/^[0-9a-fA-F]{128}$/.test(signature)) throw fail(`the ${what} signature is not 64 bytes of hex (ECDSA P-256 r||s)`);
  if (!verify('sha256', Buffer.from(raw, 'utf8'), { key: signer.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'hex'))) {
    throw fail(`the ${what} signature does not verify with the Intel SGX TCB Signing certificate: it was altered or not issued by Intel; ${PCS}`);
  }
  return JSON.parse(raw) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------------------
// Typed reads of the collateral (the signature is already checked; these catch a format Tessera does not know).

function field<T>(o: unknown, key: string, what: string, ok: (v: unknown) => v is T): T {
  const v = (o as Record<string, unknown> | null)?.[key];
  if (!ok(v)) throw fail(`the ${what} has no valid "${key}"`);
  return v;
}
const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isHex = (bytes: number) => (v: unknown): v is string => typeof v === 'string' && v.length === bytes * 2 && /^[0-9a-fA-F]*$/.test(v);
const advisories = (level: unknown): string[] => {
  const ids = (level as { advisoryIDs?: unknown }).advisoryIDs;
  return Array.isArray(ids) ? ids.filter(isString) : [];
};

/** Intel's statuses for TCB Info levels (QVL TcbStatus.h, VALID_TCB_INFO_STATUSES) and for TDX module levels. */
const TCB_LEVEL_STATUSES = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked'] as const;
const MODULE_STATUSES = ['UpToDate', 'OutOfDate', 'Revoked'] as const;
const QE_STATUSES = ['UpToDate', 'ConfigurationNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked'] as const;

function status<S extends string>(level: unknown, allowed: readonly S[], what: string): S {
  const s = (level as { tcbStatus?: unknown }).tcbStatus;
  if (!allowed.includes(s as S)) throw fail(`the ${what} has a TCB level with status ${JSON.stringify(s)}, which Intel's verification does not recognise`);
  return s as S;
}

/** Parses a UTC date the way PCS writes it; refuses anything else. */
function date(v: string, what: string): Date {
  const d = new Date(v);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v) || Number.isNaN(d.getTime())) throw fail(`the ${what} date ${JSON.stringify(v)} is not a UTC timestamp`);
  return d;
}

/** 2: issueDate <= at <= nextUpdate. */
function current(o: unknown, what: string, at: Date): string {
  const issued = date(field(o, 'issueDate', what, isString), `${what} issue`);
  const nextUpdate = field(o, 'nextUpdate', what, isString);
  const next = date(nextUpdate, `${what} next update`);
  if (at < issued) throw fail(`the ${what} was issued at ${issued.toISOString()}, after the time it is checked at (${at.toISOString()}): check the verifier's clock`);
  if (at > next) throw fail(`the ${what} expired on ${next.toISOString()} (its nextUpdate; checked at ${at.toISOString()}): ${PCS}`);
  return nextUpdate;
}

// ---------------------------------------------------------------------------------------------------------------
// TCB levels.

interface Level {
  sgx: number[];
  pcesvn: number;
  tdx: number[];
  status: (typeof TCB_LEVEL_STATUSES)[number];
  tcbDate: string;
  advisoryIds: string[];
}

const svns = (v: unknown, name: string): number[] => {
  if (!Array.isArray(v) || v.length !== 16) throw fail(`the TCB Info has a TCB level whose ${name} are not 16 components`);
  return v.map((c) => field(c, 'svn', `TCB Info ${name}`, isNumber));
};

/** Lexicographic order of SVN vectors, as std::vector's operator> in QVL's TcbLevel ordering. */
function compareSvns(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * The TCB Info's levels, highest first, in QVL's order (TcbLevel::operator>: SGX components, then PCESVN, then
 * for TDX the TDX components), whatever order the JSON lists them in.
 */
function levels(info: unknown): Level[] {
  const list = field(info, 'tcbLevels', 'TCB Info', isArray).map((l): Level => {
    const tcb = field(l, 'tcb', 'TCB Info level', (v): v is object => typeof v === 'object' && v !== null);
    return {
      sgx: svns((tcb as { sgxtcbcomponents?: unknown }).sgxtcbcomponents, 'sgxtcbcomponents'),
      pcesvn: field(tcb, 'pcesvn', 'TCB Info level', isNumber),
      tdx: svns((tcb as { tdxtcbcomponents?: unknown }).tdxtcbcomponents, 'tdxtcbcomponents'),
      status: status(l, TCB_LEVEL_STATUSES, 'TCB Info'),
      tcbDate: field(l, 'tcbDate', 'TCB Info level', isString),
      advisoryIds: advisories(l),
    };
  });
  if (list.length === 0) throw fail('the TCB Info has no TCB levels');
  return list.sort((a, b) => compareSvns(b.sgx, a.sgx) || b.pcesvn - a.pcesvn || compareSvns(b.tdx, a.tdx));
}

interface ModuleIdentity {
  id: string;
  mrsigner: Buffer;
  attributes: Buffer;
  attributesMask: Buffer;
  levels: { isvsvn: number; status: (typeof MODULE_STATUSES)[number]; tcbDate: string; advisoryIds: string[] }[];
}

/** The TDX module identity "TDX_<version, 2 hex digits>" (matched case-insensitively, as QVL's findTdxModuleIdentity). */
function moduleIdentity(info: unknown, version: number): ModuleIdentity | undefined {
  const wanted = `TDX_${version.toString(16).padStart(2, '0').toUpperCase()}`;
  const list = (info as { tdxModuleIdentities?: unknown }).tdxModuleIdentities;
  const found = (Array.isArray(list) ? list : []).find((m) => typeof (m as { id?: unknown })?.id === 'string' && (m as { id: string }).id.toUpperCase() === wanted);
  if (!found) return undefined;
  const what = `TCB Info TDX module identity ${wanted}`;
  return {
    id: wanted,
    mrsigner: Buffer.from(field(found, 'mrsigner', what, isHex(48)), 'hex'),
    attributes: Buffer.from(field(found, 'attributes', what, isHex(8)), 'hex'),
    attributesMask: Buffer.from(field(found, 'attributesMask', what, isHex(8)), 'hex'),
    levels: field(found, 'tcbLevels', what, isArray).map((l) => ({
      isvsvn: field(field(l, 'tcb', what, (v): v is object => typeof v === 'object' && v !== null), 'isvsvn', what, isNumber),
      status: status(l, MODULE_STATUSES, what),
      tcbDate: field(l, 'tcbDate', what, isString),
      advisoryIds: advisories(l),
    })),
  };
}

/**
 * QVL's convergeTcbStatusWithTdxModuleStatus and convergeTcbStatusWithQeTcbStatus (the same rule): an OutOfDate
 * module or QE makes UpToDate / SWHardeningNeeded OutOfDate, and ConfigurationNeeded /
 * ConfigurationAndSWHardeningNeeded OutOfDateConfigurationNeeded; a Revoked one makes it Revoked.
 */
function converge(platform: TdxTcbStatus, other: 'UpToDate' | 'OutOfDate' | 'Revoked'): TdxTcbStatus {
  if (other === 'Revoked') return 'Revoked';
  if (other === 'OutOfDate') {
    if (platform === 'UpToDate' || platform === 'SWHardeningNeeded') return 'OutOfDate';
    if (platform === 'ConfigurationNeeded' || platform === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  }
  return platform;
}

const configurationNeeded = (s: TdxTcbStatus) =>
  s === 'ConfigurationNeeded' || s === 'OutOfDateConfigurationNeeded' || s === 'ConfigurationAndSWHardeningNeeded' || s === 'TDRelaunchAdvisedConfigurationNeeded';

const hex = (b: Buffer) => b.toString('hex').toUpperCase();

// ---------------------------------------------------------------------------------------------------------------

/**
 * Judges a TDX quote's platform TCB against Intel's collateral: checks the collateral's signing chain and
 * signatures, its freshness at `at`, that it is for this platform (FMSPC, PCE-ID), the TDX module identity and
 * the quoting enclave's identity, then matches the TCB levels as Intel QVL does. Throws permission_denied for
 * collateral that cannot be trusted or used, or a TCB that matches no level; returns the statuses otherwise,
 * Revoked included (a policy decides which to accept).
 */
export function evaluateTdxTcb(input: TdxTcbInput): TdxTcb {
  const { collateral, at } = input;
  const q = quoteParts(input.quote);
  if (!verify('sha256', q.qeReport, { key: input.pck.publicKey, dsaEncoding: 'ieee-p1363' }, q.qeReportSignature)) {
    throw fail("the PCK certificate given is not the one whose key signed this quote's quoting enclave report");
  }

  // 1. The signing chain (TCB Signing ← Intel SGX Root CA), then the signatures over the published bytes.
  const chain = pemCertificates(collateral.signingChain);
  if (chain.length === 0 || !/CN=Intel SGX TCB Signing(\n|,|$)/.test(chain[0].subject)) {
    throw fail("the collateral's signing chain does not start with the Intel SGX TCB Signing certificate: pass PCS's TCB-Info-Issuer-Chain (signing certificate, then Intel SGX Root CA)");
  }
  let signer: X509Certificate;
  try {
    signer = verifyChain({ certificates: chain, roots: input.intelRoots, crls: input.crls, what: 'Intel SGX TCB Signing', at, now: at }).leaf;
  } catch (e) {
    if (!(e instanceof TesseraError)) throw e;
    throw fail(`${e.message.replace(/^attestation check failed: /, '')} (the collateral's signing chain must be Intel SGX TCB Signing ← Intel SGX Root CA, as Intel PCS serves it)`);
  }
  const info = signedObject(collateral.tcbInfo, 'tcbInfo', signer, 'TCB Info');
  const qeIdentity = collateral.qeIdentity === undefined ? undefined : signedObject(collateral.qeIdentity, 'enclaveIdentity', signer, 'QE Identity');

  // The TCB Info is TDX's (4.1.2.4.9), then current (2).
  if (info.id !== 'TDX' || info.version !== 3) {
    throw fail(`the TCB Info is ${JSON.stringify(info.id)} version ${JSON.stringify(info.version)}, not TDX version 3: fetch it from PCS's /tdx/certification/v4/tcb`);
  }
  const infoFmspc = field(info, 'fmspc', 'TCB Info', isHex(6)).toLowerCase();
  let nextUpdate = current(info, `TCB Info for FMSPC ${infoFmspc}`, at);
  if (qeIdentity) {
    if (qeIdentity.id !== 'TD_QE' || qeIdentity.version !== 2) {
      throw fail(`the QE Identity is ${JSON.stringify(qeIdentity.id)} version ${JSON.stringify(qeIdentity.version)}, not TD_QE version 2: fetch it from PCS's /tdx/certification/v4/qe/identity`);
    }
    const qeNext = current(qeIdentity, 'QE Identity', at);
    if (date(qeNext, 'QE Identity next update') < date(nextUpdate, 'TCB Info next update')) nextUpdate = qeNext;
  }

  // 3. The collateral is this platform's (4.1.2.4.10).
  const pck = pckTcb(input.pck);
  if (pck.fmspc !== infoFmspc) {
    throw fail(`the TCB Info is for FMSPC ${infoFmspc} but this platform's PCK certificate says FMSPC ${pck.fmspc}: fetch the TCB Info for fmspc=${pck.fmspc}`);
  }
  const infoPceId = field(info, 'pceId', 'TCB Info', isHex(2)).toLowerCase();
  if (pck.pceId !== infoPceId) throw fail(`the TCB Info is for PCE-ID ${infoPceId} but this platform's PCK certificate says ${pck.pceId}`);

  // The TDX module (4.1.2.4.11): MRSIGNERSEAM and SEAMATTRIBUTES as the TCB Info's tdxModule, or as the
  // identity TDX_<version> for a module version above 0 (TEE_TCB_SVN[1]).
  const moduleVersion = q.teeTcbSvn[1];
  const moduleIsvsvn = q.teeTcbSvn[0];
  const base = field(info, 'tdxModule', 'TCB Info', (v): v is object => typeof v === 'object' && v !== null);
  let expected: { mrsigner: Buffer; attributes: Buffer; attributesMask: Buffer } = {
    mrsigner: Buffer.from(field(base, 'mrsigner', 'TCB Info tdxModule', isHex(48)), 'hex'),
    attributes: Buffer.from(field(base, 'attributes', 'TCB Info tdxModule', isHex(8)), 'hex'),
    attributesMask: Buffer.from(field(base, 'attributesMask', 'TCB Info tdxModule', isHex(8)), 'hex'),
  };
  let identity: ModuleIdentity | undefined;
  if (moduleVersion > 0) {
    identity = moduleIdentity(info, moduleVersion);
    if (!identity) throw fail(`the TDX module version ${moduleVersion} (TEE_TCB_SVN[1]) has no identity TDX_${moduleVersion.toString(16).padStart(2, '0').toUpperCase()} in the TCB Info: the module is unknown to Intel's collateral`);
    expected = identity;
  }
  if (!q.mrSignerSeam.equals(expected.mrsigner)) {
    throw fail(`the TDX module's signer (MRSIGNERSEAM ${hex(q.mrSignerSeam)}) is not the one the TCB Info names (${hex(expected.mrsigner)}): not Intel's TDX module`);
  }
  // QVL requires SEAMATTRIBUTES to be zero and equal to the expected attributes; dcap-qvl compares them under
  // the mask. Both hold for an Intel module today (attributes 0, mask all ones); both are checked.
  for (let i = 0; i < 8; i++) {
    const [got, want, mask] = [q.seamAttributes[i], expected.attributes[i], expected.attributesMask[i]];
    if (got !== 0 || (got & mask) !== (want & mask)) {
      throw fail(`the TDX module's SEAMATTRIBUTES ${hex(q.seamAttributes)} are not the TCB Info's ${hex(expected.attributes)} (mask ${hex(expected.attributesMask)}) or not zero`);
    }
  }

  // 5. The quoting enclave's identity (4.1.2.4.14–15; EnclaveReportVerifier): MISCSELECT and ATTRIBUTES under
  // their masks, MRSIGNER, ISVPRODID, then the QE's TCB level by ISVSVN.
  let qe: { status: (typeof QE_STATUSES)[number]; tcbDate: string; advisoryIds: string[] } | undefined;
  if (qeIdentity) {
    const report = qeReportFields(q.qeReport);
    const what = 'QE Identity';
    const miscselect = Buffer.from(field(qeIdentity, 'miscselect', what, isHex(4)), 'hex').readUInt32LE(0);
    const miscselectMask = Buffer.from(field(qeIdentity, 'miscselectMask', what, isHex(4)), 'hex').readUInt32LE(0);
    const attributes = Buffer.from(field(qeIdentity, 'attributes', what, isHex(16)), 'hex');
    const attributesMask = Buffer.from(field(qeIdentity, 'attributesMask', what, isHex(16)), 'hex');
    const mrsigner = Buffer.from(field(qeIdentity, 'mrsigner', what, isHex(32)), 'hex');
    const isvprodid = field(qeIdentity, 'isvprodid', what, isNumber);
    // PCS's MISCSELECT hex is the report's bytes in order, read little-endian (QVL vectorToUint32 swaps; dcap-qvl
    // from_le_bytes). Intel compares the masked report value with the identity's value as published.
    if (((report.miscselect & miscselectMask) >>> 0) !== miscselect >>> 0) {
      throw fail(`the quoting enclave's MISCSELECT ${report.miscselect.toString(16).padStart(8, '0')} does not match the QE Identity's under its mask: not Intel's TD quoting enclave`);
    }
    if (!report.attributes.every((b, i) => (b & attributesMask[i]) === attributes[i])) {
      throw fail(`the quoting enclave's ATTRIBUTES ${hex(report.attributes)} do not match the QE Identity's ${hex(attributes)} under its mask: not Intel's TD quoting enclave, or a debug one`);
    }
    if (!report.mrsigner.equals(mrsigner)) {
      throw fail(`the quoting enclave's MRSIGNER ${hex(report.mrsigner)} is not the QE Identity's ${hex(mrsigner)}: not Intel's TD quoting enclave`);
    }
    if (report.isvprodid !== isvprodid) throw fail(`the quoting enclave's ISVPRODID ${report.isvprodid} is not the QE Identity's ${isvprodid}: not Intel's TD quoting enclave`);
    const qeLevels = field(qeIdentity, 'tcbLevels', what, isArray);
    const level = qeLevels.find((l) => field(field(l, 'tcb', what, (v): v is object => typeof v === 'object' && v !== null), 'isvsvn', what, isNumber) <= report.isvsvn);
    if (!level) throw fail(`the quoting enclave's ISVSVN ${report.isvsvn} is below every level of the QE Identity: Intel does not support this quoting enclave (update the platform's DCAP software)`);
    qe = { status: status(level, QE_STATUSES, what), tcbDate: field(level, 'tcbDate', what, isString), advisoryIds: advisories(level) };
  }

  // 4. The TCB level (4.1.2.4.17, QVL matchTcbLevels): the first level, highest first, whose SGX components
  // and PCESVN the PCK certificate reaches, and whose TDX components TEE_TCB_SVN reaches. With a module
  // version above 0, TEE_TCB_SVN[0..1] are the module's ISVSVN and version, judged by its identity instead.
  const all = levels(info);
  const reachesSgx = (l: Level) => l.sgx.every((svn, i) => pck.components[i] >= svn) && pck.pcesvn >= l.pcesvn;
  const reachesTdx = (l: Level) => l.tdx.every((svn, i) => (moduleVersion > 0 && i < 2) || q.teeTcbSvn[i] >= svn);
  const sgxLevel = all.find(reachesSgx);
  if (!sgxLevel) {
    throw fail(`the platform's SGX TCB (PCK components ${pck.components.join('.')}, PCESVN ${pck.pcesvn}) is below every level of the TCB Info: Intel does not support this TCB (status not supported); update the platform's firmware`);
  }
  const level = all.find((l) => reachesSgx(l) && reachesTdx(l));
  if (!level) {
    throw fail(`the platform's TDX TCB (TEE_TCB_SVN ${hex(q.teeTcbSvn)}) is below every level of the TCB Info: Intel does not support this TCB (status not supported); update the TDX module`);
  }

  // 4.1.2.4.17.4: the TDX module's own level (checkTdxModuleTcbStatus), converged into the TDX level's status.
  let moduleResult: TdxTcb['tdxModule'];
  let moduleStatus: 'UpToDate' | 'OutOfDate' | 'Revoked' = 'UpToDate';
  const advisoryIds = [...level.advisoryIds];
  if (identity) {
    const m = identity.levels.find((l) => moduleIsvsvn >= l.isvsvn);
    if (!m) throw fail(`the TDX module ISVSVN ${moduleIsvsvn} (TEE_TCB_SVN[0]) is below every level of ${identity.id} in the TCB Info: Intel does not support this TDX module; update it`);
    moduleStatus = m.status;
    moduleResult = { id: identity.id, isvsvn: moduleIsvsvn, status: m.status, tcbDate: m.tcbDate };
    advisoryIds.push(...m.advisoryIds);
  }
  let result = converge(level.status, moduleStatus);

  // 4.1.2.4.17.4.3, TD report 1.5 only (QVL checkForRelaunch): an out-of-date TDX TCB whose out-of-date part is
  // the module, where the module the TD would get on relaunch (TEE_TCB_SVN2) is current: relaunch advised.
  const qeStatus = qe ? (qe.status === 'UpToDate' ? 'UpToDate' : qe.status === 'Revoked' ? 'Revoked' : 'OutOfDate') : undefined;
  if (result !== 'Revoked' && q.teeTcbSvn2 && qeStatus !== 'OutOfDate' && qeStatus !== 'Revoked') {
    const sgxOk = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded'].includes(sgxLevel.status);
    if (sgxOk && (result === 'OutOfDate' || result === 'OutOfDateConfigurationNeeded') && moduleStatus === 'OutOfDate') {
      const latest = all[0];
      const svn2 = q.teeTcbSvn2;
      let relaunchHelps: boolean;
      if (svn2[1] === 0) relaunchHelps = svn2[0] >= latest.tdx[0] && svn2[2] >= latest.tdx[2];
      else {
        const next = moduleIdentity(info, svn2[1]);
        if (!next) throw fail(`the TDX module version ${svn2[1]} in TEE_TCB_SVN2 has no identity in the TCB Info`);
        if (next.levels.length === 0) throw fail(`the TCB Info's ${next.id} has no TCB levels`);
        relaunchHelps = svn2[0] >= next.levels[0].isvsvn && svn2[2] >= latest.tdx[2];
      }
      if (relaunchHelps) result = configurationNeeded(sgxLevel.status) || configurationNeeded(result) ? 'TDRelaunchAdvisedConfigurationNeeded' : 'TDRelaunchAdvised';
    }
  }

  // 6. The quoting enclave's status (QVL convergeTcbStatusWithQeTcbStatus).
  if (qe && qeStatus) {
    result = converge(result, qeStatus);
    advisoryIds.push(...qe.advisoryIds);
  }

  return {
    status: result,
    advisoryIds: [...new Set(advisoryIds)],
    tcbDate: level.tcbDate,
    platformStatus: level.status,
    fmspc: pck.fmspc,
    tcbEvaluationDataNumber: field(info, 'tcbEvaluationDataNumber', 'TCB Info', isNumber),
    ...(moduleResult ? { tdxModule: moduleResult } : {}),
    ...(qe ? { qeStatus: qe.status, qeTcbDate: qe.tcbDate } : {}),
    collateralNextUpdate: nextUpdate,
  };
}
