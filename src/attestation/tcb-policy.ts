import { TesseraError } from '../errors/index.js';
import type { SnpTcb } from './snp-tcb.js';

// The auditors' minimums for the platform under a service, signed with the rest of enclave_info.toml:
//
//   [tessera.tcb]
//   snp_min = { bootloader = 3, tee = 0, snp = 8, microcode = 115 }   # AMD SEV-SNP SVNs, each at least
//   tdx_status = ["UpToDate", "SWHardeningNeeded"]                  # Intel TCB statuses accepted
//
// The table sits inside a service's table, where MesaTEE's reader (which ignores unknown keys) passes over it.

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

export const SNP_COMPONENTS = ['bootloader', 'tee', 'snp', 'microcode', 'fmc'] as const;

/** Intel's TCB statuses (PCS TCB Info v3, tcbLevels[].tcbStatus), and Tessera's word for "not evaluated". */
export const TDX_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'TDRelaunchAdvised',
  'TDRelaunchAdvisedConfigurationNeeded',
  'Revoked',
] as const;

/** Accepted when the auditors name none: up to date, or needing only hardening or configuration; not out of date, relaunch advised, or revoked. */
export const DEFAULT_TDX_STATUSES = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded'];

export interface TcbPolicy {
  snp_min?: Partial<SnpTcb>;
  tdx_status?: string[];
}

/** The platform TCB a verifier found: what the SDK reports and the policy judges. */
export interface PlatformTcb {
  snp?: SnpTcb & { product: string; signer: 'VCEK' | 'VLEK' };
  /** null: no TCB Info was supplied, so the status was not evaluated. */
  tdx?: { status: string; advisoryIds: string[]; tcbDate?: string; fmspc: string; qeStatus?: string } | null;
}

/** Reads a service's `tcb` table, refusing anything it does not know (a misspelt minimum must not pass silently). */
export function parseTcbPolicy(service: string, raw: unknown): TcbPolicy | undefined {
  if (raw === undefined) return undefined;
  const where = `enclave_info.toml: [${service}.tcb]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TesseraError('invalid_input', `${where} must be a table`);
  const policy: TcbPolicy = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'snp_min') {
      if (typeof value !== 'object' || value === null) throw new TesseraError('invalid_input', `${where} snp_min must be a table of component = minimum SVN`);
      policy.snp_min = {};
      for (const [component, min] of Object.entries(value)) {
        if (!(SNP_COMPONENTS as readonly string[]).includes(component)) {
          throw new TesseraError('invalid_input', `${where} snp_min: unknown component '${component}' (known: ${SNP_COMPONENTS.join(', ')})`);
        }
        if (!Number.isInteger(min) || (min as number) < 0 || (min as number) > 255) throw new TesseraError('invalid_input', `${where} snp_min.${component} must be an integer from 0 to 255`);
        policy.snp_min[component as keyof SnpTcb] = min as number;
      }
    } else if (key === 'tdx_status') {
      if (!Array.isArray(value) || value.length === 0) throw new TesseraError('invalid_input', `${where} tdx_status must be a non-empty list of TCB statuses`);
      for (const s of value) {
        if (!(TDX_STATUSES as readonly string[]).includes(s)) throw new TesseraError('invalid_input', `${where} tdx_status: unknown status '${s}' (known: ${TDX_STATUSES.join(', ')})`);
      }
      policy.tdx_status = value as string[];
    } else {
      throw new TesseraError('invalid_input', `${where}: unknown key '${key}' (known: snp_min, tdx_status)`);
    }
  }
  return policy;
}

/** Refuses a platform below the auditors' minimums, naming the component and what to do. */
export function checkTcbPolicy(tcb: PlatformTcb | undefined, policy: TcbPolicy | undefined): void {
  if (tcb?.snp && policy?.snp_min) {
    for (const [component, min] of Object.entries(policy.snp_min) as [keyof SnpTcb, number][]) {
      const have = tcb.snp[component];
      if (have === undefined) {
        if (component === 'fmc') continue;
        throw fail(`the auditors set a minimum for the SEV-SNP ${component} SVN, and the report has none`);
      }
      if (have < min) {
        throw fail(
          `the platform's SEV-SNP ${component} firmware is at SVN ${have}, below the minimum ${min} the auditors set in enclave_info.toml: update the host's ${component === 'microcode' ? 'CPU microcode' : `${component} firmware`}, or have the auditors sign a lower minimum`,
        );
      }
    }
  }
  if (tcb && 'tdx' in tcb) {
    const allowed = policy?.tdx_status ?? DEFAULT_TDX_STATUSES;
    if (!tcb.tdx) {
      if (policy?.tdx_status) {
        throw fail(`the auditors accept only TDX TCB status ${allowed.join(', ')}, and no Intel TCB Info was supplied to evaluate it: pass the platform's TCB Info and QE Identity (trust.collateral.tdx)`);
      }
      return;
    }
    if (!allowed.includes(tcb.tdx.status)) {
      const advisories = tcb.tdx.advisoryIds.length ? ` (advisories ${tcb.tdx.advisoryIds.join(', ')})` : '';
      throw fail(
        `the platform's TDX TCB status is ${tcb.tdx.status}${advisories}, and ${policy?.tdx_status ? 'the auditors accept' : 'Tessera accepts by default'} only ${allowed.join(', ')}: update the host's TDX module, microcode or configuration${policy?.tdx_status ? ', or have the auditors accept this status' : ', or have the auditors accept it in enclave_info.toml (tdx_status)'}`,
      );
    }
  }
}
