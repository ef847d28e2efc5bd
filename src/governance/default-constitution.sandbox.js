
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
