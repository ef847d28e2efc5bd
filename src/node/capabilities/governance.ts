import { GovernanceService } from '../../governance/service.js';
import { evidenceOf, platformName, verifyNodeCertificate } from '../../attestation/verify.js';
import { StateDigests } from '../../governance/state-digests.js';
import { govRoutes } from '../../http/routes/gov.js';
import type { Capability } from '../capability.js';

// CCF governance: members' signed proposals, ballots, withdrawals and acks, run by the constitution in an
// isolate. (Its public reads, shared with CCF's node frontend, are in the node capability.)

export function governanceCapability(): Capability {
  return {
    name: 'governance',
    start(ctx) {
      ctx.services.governance = new GovernanceService({
        store: ctx.store,
        principals: ctx.principals,
        engine: ctx.engine,
        builtins: new Set(ctx.need('functions').list().map((f) => f.name)),
        logger: ctx.logger,
        processes: ctx.need('fns'),
        maxClockSkewS: ctx.config.governance.max_clock_skew_s,
        lastSignature: () => ctx.ledger.lastSignature(),
        serviceCertPem: ctx.tls.caPem,
        // A joining node's evidence is checked as the SDK checks it; which measurements count is governance's rule.
        checkEvidence: (der, maxAgeMs) => {
          const { mr_enclave, mr_signer } = evidenceOf(der);
          const v = verifyNodeCertificate(der, { allowed: [{ mr_enclave, mr_signer }], maxAgeMs, hardwarePolicy: false });
          return { measurement: v.measurement.mr_enclave, platform: platformName(v) };
        },
      });
    },
    routes(app, ctx) {
      const gov = ctx.need('governance');
      govRoutes(app, gov, () => ctx.ledger.lastCommitted(), ctx.principals, new StateDigests({ store: ctx.store, ledger: ctx.ledger, gov }));
    },
  };
}
