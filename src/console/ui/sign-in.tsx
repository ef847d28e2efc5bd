import { useState } from 'preact/hooks';
import { get, gov } from './api.js';
import { ErrorBox, Section } from './components.js';
import type { MemberIdentity } from '../lib/member-signing.js';
import { type Session, saveMember, signInUser, signOutUser } from './session.js';

// Signing in. Users: the browser presents the TLS certificate installed in it, and the token typed here
// goes with each request. Members: the key is imported into WebCrypto, non-extractable, and only ever
// used to sign proposals and ballots here in the browser.

const readFile = (input: HTMLInputElement | null) => (input?.files?.[0] ? input.files[0].text() : Promise.resolve(''));

async function fromPem(form: HTMLFormElement, importMemberIdentity: (key: string, cert: string) => Promise<MemberIdentity>) {
  const keyPem = (form.elements.namedItem('member-key-text') as HTMLTextAreaElement).value || (await readFile(form.elements.namedItem('member-key') as HTMLInputElement));
  const certPem = (form.elements.namedItem('member-cert-text') as HTMLTextAreaElement).value || (await readFile(form.elements.namedItem('member-cert') as HTMLInputElement));
  if (!keyPem.trim() || !certPem.trim()) throw new Error('choose (or paste) both the member key (key.pem) and its certificate (cert.pem), or a PKCS#12 file');
  return importMemberIdentity(keyPem, certPem);
}

export function SignIn({ session, setSession, forgetMember }: { session: Session; setSession: (s: Session) => void; forgetMember: () => Promise<void> }) {
  const [token, setTokenText] = useState('');
  const [userError, setUserError] = useState<Error | null>(null);
  const [memberError, setMemberError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);

  const userSignIn = async (e: Event) => {
    e.preventDefault();
    setUserError(null);
    setBusy(true);
    try {
      const me = await signInUser(token);
      setSession({ ...session, tls: me });
      setTokenText('');
    } catch (err) {
      setUserError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const memberSignIn = async (e: Event) => {
    e.preventDefault();
    setMemberError(null);
    setBusy(true);
    try {
      const form = e.currentTarget as HTMLFormElement;
      const p12 = (form.elements.namedItem('member-p12') as HTMLInputElement).files?.[0];
      const lib = await import('../lib/member-signing.js');
      const id = p12 ? await lib.importMemberPkcs12(new Uint8Array(await p12.arrayBuffer()), (form.elements.namedItem('member-p12-password') as HTMLInputElement).value) : await fromPem(form, lib.importMemberIdentity);
      const members = (await get<{ value: Array<{ memberId: string; status: string; memberData: { name?: string } | null }> }>(gov('/gov/service/members'))).value;
      const me = members.find((m) => m.memberId === id.memberId);
      if (!me) throw new Error(`this certificate (member id ${id.memberId.slice(0, 16)}…) is not a member of this service`);
      const member = { ...id, name: me.memberData?.name ?? `${id.memberId.slice(0, 12)}…` };
      await saveMember(member);
      setSession({ ...session, member });
      form.reset();
    } catch (err) {
      setMemberError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="grid">
      <Section title="User">
        {session.tls ? (
          <p>
            Signed in as <strong>{session.tls.role} {session.tls.name}</strong> (certificate {session.tls.cert_id.slice(0, 16)}…).{' '}
            <button
              type="button"
              onClick={() => {
                signOutUser();
                setSession({ ...session, tls: null });
              }}
            >
              Sign out
            </button>
          </p>
        ) : (
          <form onSubmit={userSignIn} aria-describedby="user-help">
            <p id="user-help">
              Your browser presents the certificate of your identity (<code>cert.pem</code> and <code>key.pem</code> in your identity folder, installed in the browser: see
              docs/console.md). Type the token from the same folder; it is kept for this tab only.
            </p>
            <label>
              Bearer token
              <input name="token" type="password" autocomplete="off" required value={token} onInput={(e) => setTokenText((e.target as HTMLInputElement).value)} />
            </label>
            <button type="submit" class="primary" disabled={busy}>
              Sign in
            </button>
            {userError ? <ErrorBox error={userError} title="Not signed in" /> : null}
          </form>
        )}
      </Section>
      <Section title="Member">
        {session.member ? (
          <p>
            This browser holds the signing key of member <strong>{session.member.name}</strong> ({session.member.curve}, not extractable).{' '}
            <button type="button" onClick={() => forgetMember()}>
              Forget the key
            </button>
          </p>
        ) : (
          <form onSubmit={memberSignIn}>
            <p>
              Members sign proposals and ballots here, in the browser. The key is imported into WebCrypto as non-extractable: it is never sent to the node, and no script can
              read it back.
            </p>
            <label>
              Member key (PKCS#8 or SEC1 PEM)
              <input name="member-key" type="file" accept=".pem,.key" />
            </label>
            <label>
              …or paste it
              <textarea name="member-key-text" rows={3} autocomplete="off" spellcheck={false} />
            </label>
            <label>
              Member certificate (PEM)
              <input name="member-cert" type="file" accept=".pem,.crt" />
            </label>
            <label>
              …or paste it
              <textarea name="member-cert-text" rows={3} spellcheck={false} />
            </label>
            <label>
              …or a PKCS#12 file (.p12 holding the key and certificate)
              <input name="member-p12" type="file" accept=".p12,.pfx" />
            </label>
            <label>
              PKCS#12 password
              <input name="member-p12-password" type="password" autocomplete="off" />
            </label>
            <button type="submit" class="primary" disabled={busy}>
              Import the member key
            </button>
            {memberError ? <ErrorBox error={memberError} title="Member key not imported" /> : null}
          </form>
        )}
      </Section>
    </div>
  );
}
