import { type Static, Type } from '@sinclair/typebox';

// [governance] of tessera.toml: member governance (composed into the whole schema by node/config-schema.ts).

export const GovernanceOptions = Type.Object(
  {
    max_clock_skew_s: Type.Integer({
      minimum: 0,
      default: 300,
      description:
        "How far ahead of the node's clock a signed proposal's or ballot's created_at may be; further is refused (InvalidCreatedAt), so no member can move the median of recent proposals into the future",
    }),
  },
  { additionalProperties: false, default: {}, description: 'Member governance (CCF /gov)' },
);

export type GovernanceOptions = Static<typeof GovernanceOptions>;
