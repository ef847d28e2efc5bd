import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TesseraError } from '../errors/index.js';
import { parseCrl } from './crl.js';
import type { Collateral } from './evidence.js';
import type { TdxCollateral } from './tdx-tcb.js';

// The vendors' collateral a verifier's operator keeps in one folder, fetched ahead of time (offline) or by a
// cache such as Intel's PCCS, and given to the CLI as --collateral DIR or to the SDK as trust.collateral:
//   *.crl                   CRLs, PEM or DER: AMD KDS /vcek/v1/<product>/crl, Intel PCS /pckcrl and the Root CA CRL
//   tcb-info*.json          Intel PCS /tdx/certification/v4/tcb?fmspc=… response bodies, one per platform model
//   qe-identity.json        Intel PCS /tdx/certification/v4/qe/identity response body
//   tcb-signing-chain.pem   the TCB-Info-Issuer-Chain header of those responses, URL-decoded (PEM)

const NAMES = '*.crl, tcb-info*.json, qe-identity.json, tcb-signing-chain.pem';

export function loadCollateralDir(dir: string): Collateral {
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((name) => statSync(join(dir, name)).isFile());
  } catch (err) {
    throw new TesseraError('invalid_input', `cannot read the collateral folder ${dir}: ${(err as Error).message}`);
  }
  const crls: Buffer[] = [];
  const tcbInfo: string[] = [];
  let qeIdentity: string | undefined;
  let signingChain: string | undefined;
  for (const name of entries.sort()) {
    const path = join(dir, name);
    if (name.endsWith('.crl')) crls.push(crlFile(path));
    else if (/^tcb-info.*\.json$/.test(name)) tcbInfo.push(jsonText(path, 'tcbInfo'));
    else if (name === 'qe-identity.json') qeIdentity = jsonText(path, 'enclaveIdentity');
    else if (name === 'tcb-signing-chain.pem') signingChain = readFileSync(path, 'utf8');
    else throw new TesseraError('invalid_input', `the collateral folder ${dir} holds '${name}', which is none of ${NAMES}: rename or remove it`);
  }
  if (tcbInfo.length && !signingChain) {
    throw new TesseraError('invalid_input', `the collateral folder ${dir} has TCB Info but no tcb-signing-chain.pem (the TCB-Info-Issuer-Chain header Intel PCS sends with it)`);
  }
  const tdx: TdxCollateral[] = tcbInfo.map((info) => ({ tcbInfo: info, signingChain: signingChain!, ...(qeIdentity ? { qeIdentity } : {}) }));
  return { crls, ...(tdx.length ? { tdx } : {}) };
}

/** The CRL's bytes, once they are shown to parse as one (so a corrupt file is named here, not in every verification). */
function crlFile(path: string): Buffer {
  const bytes = readFileSync(path);
  try {
    parseCrl(bytes);
  } catch (err) {
    throw new TesseraError('invalid_input', `${path}: ${(err as Error).message}`);
  }
  return bytes;
}

/** The file's text, once it is shown to be a PCS response body with `member` (its signature is checked when used). */
function jsonText(path: string, member: string): string {
  const text = readFileSync(path, 'utf8');
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new TesseraError('invalid_input', `${path} is not JSON: save Intel PCS's response body as it came`);
  }
  if (typeof parsed[member] !== 'object' || typeof parsed.signature !== 'string') {
    throw new TesseraError('invalid_input', `${path} is not an Intel PCS response body: it needs "${member}" and "signature"`);
  }
  return text;
}
