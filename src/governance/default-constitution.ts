import { guestSource } from '../sandbox/guest-source.js';

// The default constitution, run in the sandbox like any other. It keeps CCF's default rules: validate
// each action, accept on a strict majority of Active members (the proposer does not vote implicitly,
// nothing is ever rejected), and apply the actions in order. The host grants three functions:
// tessera_validate_action(name, argsJson) → error text or null, tessera_active_members() → count,
// and tessera_apply_action(name, argsJson, proposalId); like any constitution it also has the `ccf` global
// (gov-prelude.sandbox.ts).
//
// Its text is default-constitution.sandbox.js, hand-written JavaScript kept byte for byte (members read it at
// /gov/service/constitution, and a service with no stored constitution runs it), type-checked at build
// time against default-constitution.sandbox.d.mts: see docs/governance.md.
export const DEFAULT_CONSTITUTION = guestSource(import.meta.url, 'default-constitution');
