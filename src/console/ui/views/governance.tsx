import { diffLines } from 'diff';
import { useState } from 'preact/hooks';
import { type ApiError, get, gov, request } from '../api.js';
import { ActionButton, Done, Empty, ErrorBox, Section, Show, Table, useInterval, useLoad } from '../components.js';
import type { ViewProps } from '../main.js';
import type { Session } from '../session.js';

// Governance: proposals with a readable summary of what each action changes, ballots and outcomes, and
// proposing, voting and withdrawing as a member. Every write is a COSE Sign1 envelope signed here with the
// member's non-extractable key (lib/member-signing.ts); the node checks it, as CCF does.

// The standard ballots, as `tessera gov vote --accept/--reject` cast them (src/sdk/member.ts).
const ACCEPT = 'export function vote (rawProposal, proposerId) { return true; }';
const REJECT = 'export function vote (rawProposal, proposerId) { return false; }';

interface Proposal {
  proposalId: string;
  proposerId: string;
  proposalState: string;
  ballotCount: number;
  finalVotes?: Record<string, boolean>;
  voteFailures?: Record<string, unknown>;
  failure?: { reason?: string };
}
interface Action {
  name: string;
  args?: Record<string, any>;
}
interface Member {
  memberId: string;
  status: string;
  memberData: { name?: string } | null;
}

const short = (id: string) => `${id.slice(0, 12)}…`;
const memberName = (members: Member[], id: string) => members.find((m) => m.memberId === id)?.memberData?.name ?? short(id);

/** Signs and posts a governance message; the node's refusal comes back as an ApiError with its words. */
async function signed(session: Session, path: string, type: 'proposal' | 'ballot' | 'withdrawal', payload: string, proposalId?: string) {
  if (!session.member) throw new Error('import a member key first (Sign in, top right): proposals and ballots are signed in this browser');
  const { signGovMessage } = await import('../../lib/member-signing.js');
  const envelope = await signGovMessage(session.member, type, new TextEncoder().encode(payload), proposalId ? { proposalId } : {});
  const res = await request('POST', gov(path), { body: envelope as BlobPart as BodyInit, headers: { 'content-type': 'application/cose' } });
  return res.status === 204 ? null : res.json();
}

function ModuleDiff({ name, proposed }: { name: string; proposed: string }) {
  const deployed = useLoad(() =>
    request('GET', gov(`/gov/service/javascript-modules/${encodeURIComponent(name)}`)).then(
      (r) => r.text(),
      (err: ApiError) => (err.status === 404 ? null : Promise.reject(err)),
    ),
  );
  return (
    <Show loaded={deployed} what={`module ${name}`}>
      {(old) => {
        if (old === proposed) return <p>{name}: unchanged</p>;
        const parts = diffLines(old ?? '', proposed);
        const added = parts.filter((p) => p.added).reduce((n, p) => n + (p.count ?? 0), 0);
        const removed = parts.filter((p) => p.removed).reduce((n, p) => n + (p.count ?? 0), 0);
        return (
          <details>
            <summary>
              {name}: {old === null ? 'new module' : 'changed'} (+{added} −{removed} lines)
            </summary>
            <pre aria-label={`diff of ${name}`}>
              {parts.map((p, i) => (
                <span key={i} class={p.added ? 'diff-add' : p.removed ? 'diff-del' : undefined}>
                  {p.value
                    .replace(/\n$/, '')
                    .split('\n')
                    .map((l) => `${p.added ? '+' : p.removed ? '-' : ' '} ${l}`)
                    .join('\n') + '\n'}
                </span>
              ))}
            </pre>
          </details>
        );
      }}
    </Show>
  );
}

/** What an action does, in words, with the detail a member needs to judge it. */
export function ActionSummary({ action }: { action: Action }) {
  const a = action.args ?? {};
  if (action.name === 'set_js_app' && a.bundle) {
    const endpoints = Object.entries((a.bundle.metadata?.endpoints ?? {}) as Record<string, Record<string, { authn_policies?: unknown[]; mode?: string }>>);
    const modules = (a.bundle.modules ?? []) as Array<{ name: string; module: string }>;
    return (
      <div class="action-summary">
        <p>
          <strong>Deploy a JavaScript app</strong>: {endpoints.length} endpoint path(s), {modules.length} module(s)
          {a.disable_bytecode_cache ? ', bytecode cache disabled' : ''}.
        </p>
        <Table head={['Endpoint', 'Method', 'Authentication', 'Mode']}>
            {endpoints.flatMap(([path, methods]) =>
              Object.entries(methods).map(([method, info]) => (
                <tr key={`${method} ${path}`}>
                  <td class="mono">{path}</td>
                  <td>{method.toUpperCase()}</td>
                  <td>{(info.authn_policies ?? []).map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(', ') || 'none'}</td>
                  <td>{info.mode ?? 'readwrite'}</td>
                </tr>
              )),
            )}
          </Table>
        {modules.map((m) => (
          <ModuleDiff key={m.name} name={m.name} proposed={m.module} />
        ))}
      </div>
    );
  }
  if (action.name === 'set_constitution' && typeof a.constitution === 'string') {
    return (
      <p>
        <strong>Replace the constitution</strong> ({a.constitution.length} characters).
      </p>
    );
  }
  return (
    <div class="action-summary">
      <p>
        <strong>{action.name.replace(/_/g, ' ')}</strong>
      </p>
      <pre>{JSON.stringify(a, null, 2)}</pre>
    </div>
  );
}

function ProposalCard({ p, members, session, onChange }: { p: Proposal; members: Member[]; session: Session; onChange: () => void }) {
  const actions = useLoad(() => get<{ actions: Action[] }>(gov(`/gov/members/proposals/${p.proposalId}/actions`)), [p.proposalId]);
  // Who has voted so far: CCF keeps ballots per member; a member without one answers 404.
  const voters = useLoad(
    () =>
      Promise.all(
        members.map((m) =>
          request('GET', gov(`/gov/members/proposals/${p.proposalId}/ballots/${m.memberId}`)).then(
            () => m.memberId,
            () => null,
          ),
        ),
      ).then((ids) => ids.filter((x): x is string => x !== null)),
    [p.proposalId, p.ballotCount],
  );
  const [outcome, setOutcome] = useState<string | null>(null);
  const me = session.member?.memberId;
  const open = p.proposalState === 'Open';
  const vote = (ballot: string) => async () => {
    const r = (await signed(session, `/gov/members/proposals/${p.proposalId}/ballots/${me}:submit`, 'ballot', JSON.stringify({ ballot }), p.proposalId)) as Proposal;
    setOutcome(`Your ballot was recorded; the proposal is ${r.proposalState}.`);
    onChange();
  };
  return (
    <article class="proposal" data-proposal-id={p.proposalId} data-state={p.proposalState} aria-labelledby={`p-${p.proposalId}`}>
      <h3 id={`p-${p.proposalId}`}>
        Proposal <span class="mono">{short(p.proposalId)}</span> <span class="badge proposal-state">{p.proposalState}</span>
      </h3>
      <dl class="facts">
        <dt>Proposed by</dt>
        <dd>{memberName(members, p.proposerId)}</dd>
        <dt>Ballots</dt>
        <dd>
          {p.ballotCount}
          {voters.state === 'ready' && voters.data.length ? ` (${voters.data.map((id) => memberName(members, id)).join(', ')})` : ''}
        </dd>
        {p.finalVotes ? (
          <>
            <dt>Final votes</dt>
            <dd>
              {Object.entries(p.finalVotes).map(([id, yes]) => (
                <span key={id} class={yes ? 'ok' : 'bad'}>
                  {memberName(members, id)}: {yes ? 'for' : 'against'}{' '}
                </span>
              ))}
            </dd>
          </>
        ) : null}
        {p.failure ? (
          <>
            <dt>Failure</dt>
            <dd class="bad">{p.failure.reason ?? JSON.stringify(p.failure)}</dd>
          </>
        ) : null}
      </dl>
      <Show loaded={actions} what="the proposal's actions">
        {(r) => (
          <>
            {r.actions.map((a, i) => (
              <ActionSummary key={i} action={a} />
            ))}
          </>
        )}
      </Show>
      {me && open ? (
        <div>
          <ActionButton kind="primary" onClick={vote(ACCEPT)} label={`Vote for proposal ${p.proposalId}`}>
            Vote for
          </ActionButton>
          <ActionButton onClick={vote(REJECT)} label={`Vote against proposal ${p.proposalId}`}>
            Vote against
          </ActionButton>
          {me === p.proposerId ? (
            <ActionButton
              kind="danger"
              onClick={async () => {
                await signed(session, `/gov/members/proposals/${p.proposalId}:withdraw`, 'withdrawal', '', p.proposalId);
                onChange();
              }}
            >
              Withdraw
            </ActionButton>
          ) : null}
        </div>
      ) : null}
      <Done message={outcome} />
    </article>
  );
}

/** Client-side checks before signing: the node validates again, and its refusal is shown as it words it. */
function parseActions(text: string): Action[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`the proposal is not JSON: ${(err as Error).message}`);
  }
  const actions = Array.isArray(parsed) ? parsed : (parsed as { actions?: unknown }).actions;
  if (!Array.isArray(actions) || actions.length === 0) throw new Error('a proposal is { "actions": [ { "name": …, "args": { … } } ] } with at least one action');
  for (const [i, a] of actions.entries()) {
    if (typeof a !== 'object' || a === null || typeof (a as Action).name !== 'string') throw new Error(`action ${i + 1} has no "name"`);
  }
  return actions as Action[];
}

function Propose({ session, onProposed }: { session: Session; onProposed: () => void }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [done, setDone] = useState<string | null>(null);
  let preview: Action[] | null = null;
  try {
    preview = text.trim() ? parseActions(text) : null;
  } catch {
    preview = null;
  }
  const loadBundle = async (file: File | undefined) => {
    if (!file) return;
    try {
      const bundle = JSON.parse(await file.text());
      if (!bundle.metadata || !Array.isArray(bundle.modules)) throw new Error(`${file.name} is not an app bundle ({ "metadata": { "endpoints": … }, "modules": [ … ] })`);
      setText(JSON.stringify({ actions: [{ name: 'set_js_app', args: { bundle, disable_bytecode_cache: false } }] }, null, 2));
      setError(null);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        setDone(null);
        try {
          const actions = parseActions(text);
          const r = (await signed(session, '/gov/members/proposals:create', 'proposal', JSON.stringify({ actions }))) as Proposal;
          setDone(`Proposal ${r.proposalId} is ${r.proposalState}.`);
          setText('');
          onProposed();
        } catch (err) {
          setError(err as Error);
        }
      }}
    >
      <label>
        Deploy an app: choose its bundle (bundle.json)
        <input type="file" name="bundle" accept=".json,application/json" onChange={(e) => loadBundle((e.target as HTMLInputElement).files?.[0])} />
      </label>
      <label>
        Proposal (JSON)
        <textarea name="proposal" rows={8} value={text} spellcheck={false} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} placeholder='{ "actions": [ { "name": "set_js_app", "args": { "bundle": { … } } } ] }' />
      </label>
      {preview ? (
        <div aria-label="What this proposal does">
          <h3>What this proposal does</h3>
          {preview.map((a, i) => (
            <ActionSummary key={i} action={a} />
          ))}
        </div>
      ) : null}
      <button type="submit" class="primary" disabled={!session.member}>
        Sign and propose
      </button>
      {!session.member ? <p class="empty">Import a member key (Sign in, top right) to propose.</p> : null}
      <Done message={done} />
      {error ? <ErrorBox error={error} title="Not proposed" /> : null}
    </form>
  );
}

export default function GovernanceView({ session }: ViewProps) {
  const members = useLoad(() => get<{ value: Member[] }>(gov('/gov/service/members')).then((r) => r.value));
  const proposals = useLoad(() => get<{ value: Proposal[] }>(gov('/gov/members/proposals')).then((r) => r.value.reverse()));
  const constitution = useLoad(() => request('GET', gov('/gov/service/constitution')).then((r) => r.text()));
  useInterval(() => proposals.state !== 'loading' && proposals.reload(), 3000);
  return (
    <>
      <Section title="Propose">
        <Propose session={session} onProposed={proposals.reload} />
      </Section>
      <Section title="Proposals" actions={<button onClick={proposals.reload}>Refresh</button>}>
        <Show loaded={members} what="the members">
          {(ms) => (
            <Show loaded={proposals} what="the proposals">
              {(list) =>
                list.length === 0 ? <Empty>No proposals yet.</Empty> : list.map((p) => <ProposalCard key={p.proposalId} p={p} members={ms} session={session} onChange={proposals.reload} />)
              }
            </Show>
          )}
        </Show>
      </Section>
      <Section title="Members">
        <Show loaded={members} what="the members">
          {(ms) => (
            <ul>
              {ms.map((m) => (
                <li key={m.memberId}>
                  {memberName(ms, m.memberId)} <span class="mono">{m.memberId}</span> ({m.status})
                </li>
              ))}
            </ul>
          )}
        </Show>
      </Section>
      <Section title="Constitution">
        <Show loaded={constitution} what="the constitution">
          {(text) => (
            <details>
              <summary>The constitution in force ({text.length} characters)</summary>
              <pre>{text}</pre>
            </details>
          )}
        </Show>
      </Section>
    </>
  );
}
