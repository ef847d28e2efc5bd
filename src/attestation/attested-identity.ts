import type { Logger } from 'pino';
import { type PemPair, issueCertificate, newKeyPair } from '../crypto/certificates.js';
import { EVIDENCE_OID, type AttestationProvider, type Evidence, encodeEvidence, reportDataFor } from './evidence.js';
import type { Measurement } from './measurement.js';
import { SOFTWARE_WARNING } from './software.js';

export interface AttestedIdentityOptions {
  ca: PemPair;
  provider: AttestationProvider;
  measurement: Measurement;
  /** How long evidence is good for; the certificate expires with it and is re-issued at half. */
  maxAgeMs: number;
  logger: Logger;
}

/**
 * The node's server certificate: a fresh key that never touches disk, signed by the node CA, carrying
 * evidence that binds that key, the measurement and the time. It is re-issued at half the evidence's
 * allowed age, and `onRenew` hands the new one to the listeners.
 */
export class AttestedIdentity {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: AttestedIdentityOptions) {}

  async issue(): Promise<PemPair & { evidence: Evidence }> {
    const { keys, spki } = await newKeyPair();
    const timestamp = new Date().toISOString();
    const { report, auxiliary } = await this.opts.provider.attest(reportDataFor(spki, this.opts.measurement, timestamp));
    const evidence: Evidence = {
      version: 1,
      provider: this.opts.provider.name,
      mr_enclave: this.opts.measurement.mr_enclave,
      mr_signer: this.opts.measurement.mr_signer,
      timestamp,
      report: report.toString('base64'),
      auxiliary: auxiliary ? auxiliary.toString('base64') : null,
    };
    const pair = await issueCertificate(
      this.opts.ca,
      {
        name: 'node',
        role: 'service',
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1', '::1'],
        validMs: this.opts.maxAgeMs,
        extensions: { [EVIDENCE_OID]: encodeEvidence(evidence) },
      },
      keys,
    );
    this.opts.logger.info(
      { provider: evidence.provider, mr_enclave: evidence.mr_enclave, timestamp, ...(evidence.provider === 'software' ? { warning: SOFTWARE_WARNING } : {}) },
      'attested TLS certificate issued',
    );
    return { ...pair, evidence };
  }

  /** Re-issues at half the allowed age, for as long as the node runs. */
  renewEvery(onRenew: (pair: PemPair) => void) {
    this.timer = setInterval(() => {
      this.issue().then(onRenew, (err) => this.opts.logger.error({ err }, 'could not renew the attested certificate; clients will refuse the node once the current one is stale'));
    }, Math.max(1000, this.opts.maxAgeMs / 2));
    this.timer.unref();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
  }
}
