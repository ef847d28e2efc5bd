// What Tessera's default constitution (default-constitution.sandbox.js) may use and must export, for the
// type check scripts/build-sandbox.mjs runs on it (TypeScript with checkJs and strict). The constitution
// is kept as hand-written JavaScript because its text is what members read at /gov/service/constitution
// and what a service without a stored constitution runs (docs/governance.md); annotations in it would
// change that text, so its types are declared here. Named .d.mts so that the node's own build, which
// takes src/**/*.ts, never sees these globals.
export {};

declare global {
  /** Checks one action's arguments: the error text, or null if they are valid (governance/service.ts). */
  function tessera_validate_action(name: string, argsJson: string): string | null;
  /** How many members are Active now. */
  function tessera_active_members(): number;
  /** Applies one action of proposal `proposalId`. */
  function tessera_apply_action(name: string, argsJson: string, proposalId: string): void;
}

/** What CCF calls on a constitution (CCF's samples/constitutions/default, src/node/gov/). */
interface Constitution {
  validate(input: string): { valid: boolean; description?: string };
  resolve(proposal: string, proposerId: string, votes: Array<{ member_id: string; vote: boolean }>, proposalId: string): string;
  apply(proposal: string, proposalId: string): void;
}

type Governs<T extends Constitution> = T;
/** Fails the check if the constitution's exports do not fit what CCF calls. */
export type Checked = Governs<typeof import('./default-constitution.sandbox.js')>;
