import { TesseraError } from '../errors/index.js';
import type { SnpTcb } from './snp-tcb.js';

// What the auditors require of the hardware under a measurement, signed with the rest of enclave_info.toml
// (docs/trust-model.md, "What the auditors pin"):
//
//   [node.hardware]
//   snp_measurement = ["<96 hex>"]             # SEV-SNP launch measurements of the guest image they reviewed
//   snp_min = { bootloader = 3, snp = 8 }      # SEV-SNP firmware SVNs, each at least
//   tdx_mrtd = ["<96 hex>"]                    # TDX: MRTD of the TD firmware they reviewed
//   tdx_rtmr1 = ["<96 hex>"]                   # TDX: RTMR1 and RTMR2 required with it (kernel, initrd, command
//   tdx_rtmr2 = ["<96 hex>"]                   #   line); RTMR0 and RTMR3 optional
//   tdx_status = ["UpToDate"]                  # Intel TCB statuses accepted
//   allow_debug = false                        # a debuggable guest's memory is the host's to read
//
// Tessera's own measurement (mr_enclave) is claimed by the guest and bound into the report data; only the
// hardware's measurement of the guest image ties that claim to code the hardware saw start. So a hardware node
// is accepted only when the auditors pinned its platform measurement, and a measurement with a hardware table
// is never accepted from the software provider. The table sits inside a service's table, where MesaTEE's reader
// (which ignores unknown keys) passes over it.

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

export const SNP_COMPONENTS = ['bootloader', 'tee', 'snp', 'microcode', 'fmc'] as const;

/** Intel's TCB statuses (PCS TCB Info v3 tcbStatus, and the TD relaunch statuses Intel's QVL derives). */
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

/** Accepted when the auditors name none: up to date, or needing only hardening or configuration. */
export const DEFAULT_TDX_STATUSES = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded'];

export interface HardwarePolicy {
  snp_measurement?: string[];
  snp_min?: Partial<SnpTcb>;
  tdx_mrtd?: string[];
  tdx_rtmr?: Partial<Record<0 | 1 | 2 | 3, string[]>>;
  tdx_status?: string[];
  allow_debug?: boolean;
}

/** What an SEV-SNP report says about its platform and guest. */
export interface SnpPlatform extends SnpTcb {
  product: string;
  signer: 'VCEK' | 'VLEK';
  /** The launch measurement, hex. */
  measurement: string;
  vmpl: number;
  /** The guest policy allows debugging (the host may read and write its memory). */
  debug: boolean;
}

/** Intel's verdict on a TDX platform, from its TCB Info. */
export interface TdxEvaluation {
  status: string;
  advisoryIds: string[];
  tcbDate?: string;
  fmspc: string;
  qeStatus?: string;
}

/** What a TDX quote says about its trust domain, and Intel's verdict when TCB Info was supplied (else null). */
export interface TdxPlatform {
  mrtd: string;
  rtmr: string[];
  debug: boolean;
  evaluation: TdxEvaluation | null;
}

export interface PlatformReport {
  snp?: SnpPlatform;
  tdx?: TdxPlatform;
}

const HEX96 = /^[0-9a-f]{96}$/;

function hexList(where: string, key: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && HEX96.test(v))) {
    throw new TesseraError('invalid_input', `${where} ${key} must be a non-empty list of 48-byte measurements, each 96 lowercase hex characters`);
  }
  return value as string[];
}

/** Reads a service's `hardware` table, refusing anything it does not know (a misspelt requirement must not pass silently). */
export function parseHardwarePolicy(service: string, raw: unknown): HardwarePolicy | undefined {
  if (raw === undefined) return undefined;
  const where = `enclave_info.toml: [${service}.hardware]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TesseraError('invalid_input', `${where} must be a table`);
  const policy: HardwarePolicy = {};
  for (const [key, value] of Object.entries(raw)) {
    const rtmr = /^tdx_rtmr([0-3])$/.exec(key);
    if (key === 'snp_measurement') policy.snp_measurement = hexList(where, key, value);
    else if (key === 'tdx_mrtd') policy.tdx_mrtd = hexList(where, key, value);
    else if (rtmr) policy.tdx_rtmr = { ...policy.tdx_rtmr, [Number(rtmr[1])]: hexList(where, key, value) };
    else if (key === 'allow_debug') {
      if (typeof value !== 'boolean') throw new TesseraError('invalid_input', `${where} allow_debug must be true or false`);
      policy.allow_debug = value;
    } else if (key === 'snp_min') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TesseraError('invalid_input', `${where} snp_min must be a table of component = minimum SVN`);
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
      throw new TesseraError('invalid_input', `${where}: unknown key '${key}' (known: snp_measurement, snp_min, tdx_mrtd, tdx_rtmr0…tdx_rtmr3, tdx_status, allow_debug)`);
    }
  }
  // MRTD measures only the TD firmware; the kernel, initrd and command line it loads are in RTMR1 and RTMR2.
  if (policy.tdx_mrtd && !(policy.tdx_rtmr?.[1] && policy.tdx_rtmr?.[2])) {
    throw new TesseraError(
      'invalid_input',
      `${where} pins tdx_mrtd, which measures only the TD firmware: pin tdx_rtmr1 and tdx_rtmr2 too (what the firmware measured of the kernel, initrd and command line), or the TD could boot any kernel`,
    );
  }
  return policy;
}

export interface PolicyEntry {
  service: string;
  hardware?: HardwarePolicy;
}

/**
 * The auditors' hardware requirements for a node whose measurement is listed under `entries` (every service
 * table with that measurement). Every requirement any of them states must hold; a hardware node needs at
 * least one of them to pin its platform measurement, and a software node is refused where any states one.
 */
export function checkHardwarePolicy(provider: string, platform: PlatformReport | undefined, entries: PolicyEntry[]): void {
  const stated = entries.filter((e): e is Required<PolicyEntry> => e.hardware !== undefined);
  if (!platform?.snp && !platform?.tdx) {
    if (stated.length) {
      throw fail(
        `the auditors require hardware evidence for this measurement ([${stated[0].service}.hardware] in enclave_info.toml), and this node's evidence is from the ${provider} provider, which proves nothing about hardware: run it on an SEV-SNP or TDX machine with attestation.provider set to match`,
      );
    }
    return;
  }
  const kind = platform.snp ? 'SEV-SNP' : 'TDX';
  const pinKey = platform.snp ? 'snp_measurement' : 'tdx_mrtd';
  if (!stated.some((e) => e.hardware[pinKey])) {
    throw fail(
      `the auditors pinned no ${kind} guest measurement for this node's measurement (${pinKey} under [<service>.hardware] in enclave_info.toml): without it the hardware proves nothing about the code the guest runs; have the auditors measure the guest image and sign it`,
    );
  }
  for (const { service, hardware } of stated) {
    const where = `[${service}.hardware]`;
    if (platform.snp) checkSnp(platform.snp, hardware, where);
    if (platform.tdx) checkTdx(platform.tdx, hardware, where);
  }
}

function checkSnp(snp: SnpPlatform, policy: HardwarePolicy, where: string) {
  if (!policy.snp_measurement) throw fail(`${where} in enclave_info.toml pins no SEV-SNP launch measurement (snp_measurement), so it accepts no SEV-SNP node`);
  if (!policy.snp_measurement.includes(snp.measurement)) {
    throw fail(`the guest's SEV-SNP launch measurement ${snp.measurement} is not one the auditors signed in ${where} (snp_measurement): the guest image (firmware, kernel, initrd, command line) is not the one they reviewed`);
  }
  if (snp.debug && !policy.allow_debug) {
    throw fail(`the SEV-SNP guest policy allows debugging (policy bit 19), so the host can read and write its memory; ${where} does not allow_debug: launch the guest without debugging`);
  }
  for (const [component, min] of Object.entries(policy.snp_min ?? {}) as [keyof SnpTcb, number][]) {
    const have = snp[component];
    if (have === undefined) {
      if (component === 'fmc') continue;
      throw fail(`${where} sets a minimum for the SEV-SNP ${component} SVN, and the report has none`);
    }
    if (have < min) {
      throw fail(
        `the platform's SEV-SNP ${component} firmware is at SVN ${have}, below the minimum ${min} the auditors set in ${where}: update the host's ${component === 'microcode' ? 'CPU microcode' : `${component} firmware`}, or have the auditors sign a lower minimum`,
      );
    }
  }
}

function checkTdx(tdx: TdxPlatform, policy: HardwarePolicy, where: string) {
  if (!policy.tdx_mrtd) throw fail(`${where} in enclave_info.toml pins no TDX MRTD (tdx_mrtd), so it accepts no TDX node`);
  if (!policy.tdx_mrtd.includes(tdx.mrtd)) throw fail(`the trust domain's MRTD ${tdx.mrtd} is not one the auditors signed in ${where} (tdx_mrtd): the TD firmware is not the one they reviewed`);
  for (const [index, allowed] of Object.entries(policy.tdx_rtmr ?? {})) {
    if (!allowed?.includes(tdx.rtmr[Number(index)])) {
      throw fail(`the trust domain's RTMR${index} ${tdx.rtmr[Number(index)]} is not one the auditors signed in ${where} (tdx_rtmr${index}): what the firmware measured into it (kernel, command line, …) is not what they reviewed`);
    }
  }
  if (tdx.debug && !policy.allow_debug) {
    throw fail(`the trust domain is debuggable (TDATTRIBUTES.DEBUG), so the host can read and write its memory; ${where} does not allow_debug: launch the TD without debugging`);
  }
  const allowed = policy.tdx_status ?? DEFAULT_TDX_STATUSES;
  if (!tdx.evaluation) {
    if (policy.tdx_status) {
      throw fail(`${where} accepts only TDX TCB status ${allowed.join(', ')}, and no Intel TCB Info was supplied to evaluate it: supply the platform's TCB Info and QE Identity (--collateral DIR, or trust.collateral)`);
    }
    return;
  }
  if (!allowed.includes(tdx.evaluation.status)) {
    const advisories = tdx.evaluation.advisoryIds.length ? ` (advisories ${tdx.evaluation.advisoryIds.join(', ')})` : '';
    throw fail(
      `the platform's TDX TCB status is ${tdx.evaluation.status}${advisories}, and ${policy.tdx_status ? `${where} accepts` : 'Tessera accepts by default'} only ${allowed.join(', ')}: update the host's TDX module, microcode or configuration, or have the auditors accept this status (tdx_status)`,
    );
  }
}
