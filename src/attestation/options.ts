import { type Static, Type } from '@sinclair/typebox';

// [attestation] of tessera.toml: the evidence in the node's certificate (composed into the whole schema
// by node/config-schema.ts).

const PROVIDERS = ['software', 'sev-snp', 'tdx'] as const;

export const AttestationOptions = Type.Object(
  {
    // A plain `enum` rather than TypeBox's Union of Literals (an anyOf), so that the schema and its
    // validation message stay what they were.
    provider: Type.Unsafe<(typeof PROVIDERS)[number]>({
      enum: [...PROVIDERS],
      default: 'software',
      description: 'software (no hardware guarantee: for development), sev-snp or tdx (through Linux configfs-tsm)',
    }),
    evidence_max_age_s: Type.Integer({
      minimum: 10,
      default: 86400,
      description: 'Evidence validity; the certificate carrying it is re-issued at half this',
    }),
    tsm_dir: Type.String({
      default: '/sys/kernel/config/tsm/report',
      description: 'Where configfs-tsm is mounted (sev-snp and tdx)',
    }),
    sev_snp_cert_chain: Type.String({
      default: '',
      description: 'PEM file with the VCEK, ASK and ARK, when the kernel does not return them (sev-snp)',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Attested TLS: evidence about the node in its certificate' },
);

export type AttestationOptions = Static<typeof AttestationOptions>;
