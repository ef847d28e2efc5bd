// The default constitution, run in the sandbox like any other. It keeps CCF's default rules: validate
// each action, accept on a strict majority of Active members (the proposer does not vote implicitly,
// nothing is ever rejected), and apply the actions in order. The host grants three functions:
// tessera_validate_action(name, argsJson) → error text or null, tessera_active_members() → count,
// and tessera_apply_action(name, argsJson, proposalId); like any constitution it also has the `ccf` global
// (ccf-global.ts). TODO(issue 17): move this guest code into a *.sandbox.ts module once that mechanism exists.
export const DEFAULT_CONSTITUTION = `
export function validate(input) {
  let proposal;
  try {
    proposal = JSON.parse(input);
  } catch (e) {
    return { valid: false, description: "the proposal is not JSON" };
  }
  if (proposal === null || typeof proposal !== "object" || !Array.isArray(proposal.actions)) {
    return { valid: false, description: 'a proposal is {"actions": [{"name": ..., "args": {...}}]}' };
  }
  const errors = [];
  for (const action of proposal.actions) {
    const problem = tessera_validate_action(String(action && action.name), JSON.stringify((action && action.args) ?? {}));
    if (problem) errors.push(problem);
  }
  return errors.length ? { valid: false, description: errors.join("; ") } : { valid: true, description: "OK" };
}

export function resolve(proposal, proposerId, votes, proposalId) {
  const yes = votes.filter((v) => v.vote).length;
  return yes > Math.floor(tessera_active_members() / 2) ? "Accepted" : "Open";
}

export function apply(proposal, proposalId) {
  for (const action of JSON.parse(proposal).actions) {
    tessera_apply_action(action.name, JSON.stringify(action.args ?? {}), proposalId);
  }
}
`;
