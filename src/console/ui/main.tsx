import { type ComponentType, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorBox, Loading } from './components.js';
import { type Session, forgetMember, loadMember, whoami } from './session.js';
import { SignIn } from './sign-in.js';

// The shell: navigation, who is signed in, and the views, each loaded (as its own script chunk) the first
// time it is opened so that the first screen stays small.

export interface ViewProps {
  session: Session;
  setSession: (s: Session) => void;
}

const VIEWS: Array<{ id: string; title: string; load: () => Promise<{ default: ComponentType<ViewProps> }> }> = [
  { id: 'files', title: 'Files', load: () => import('./views/files.js') },
  { id: 'tasks', title: 'Tasks', load: () => import('./views/tasks.js') },
  { id: 'governance', title: 'Governance', load: () => import('./views/governance.js') },
  { id: 'apps', title: 'Apps', load: () => import('./views/apps.js') },
  { id: 'workflows', title: 'Workflows', load: () => import('./views/workflows.js') },
  { id: 'ledger', title: 'Ledger', load: () => import('./views/ledger.js') },
  { id: 'node', title: 'Node', load: () => import('./views/node.js') },
];

const routeOf = () => location.hash.replace(/^#\/?/, '').split('/')[0] || 'signin';

function LazyView({ id, props }: { id: string; props: ViewProps }) {
  const [view, setView] = useState<{ id: string; C: ComponentType<ViewProps> } | { id: string; error: Error } | null>(null);
  const entry = VIEWS.find((v) => v.id === id);
  useEffect(() => {
    if (!entry) return;
    let live = true;
    entry.load().then(
      (m) => live && setView({ id, C: m.default }),
      (error: Error) => live && setView({ id, error }),
    );
    return () => {
      live = false;
    };
  }, [id]);
  if (!entry) return <ErrorBox error={`There is no view '${id}'. Choose one from the menu.`} />;
  if (!view || view.id !== id) return <Loading what={entry.title.toLowerCase()} />;
  if ('error' in view) return <ErrorBox error={view.error} title="This view did not load" />;
  return <view.C {...props} />;
}

function App() {
  const [route, setRoute] = useState(routeOf());
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<Error | null>(null);

  useEffect(() => {
    const onHash = () => setRoute(routeOf());
    addEventListener('hashchange', onHash);
    Promise.all([whoami(), loadMember().catch(() => undefined)]).then(
      ([tls, member]) => setSession({ tls, member: member ?? null }),
      (err: Error) => {
        setError(err);
        setSession({ tls: null, member: null });
      },
    );
    return () => removeEventListener('hashchange', onHash);
  }, []);

  // Focus moves to the new view's heading, so keyboard and screen-reader users land on what they opened
  // (not on the first load: a page that has just opened starts at its top, with the skip link).
  const firstRoute = useRef(true);
  useEffect(() => {
    if (firstRoute.current) firstRoute.current = false;
    else document.querySelector<HTMLElement>('main h1')?.focus();
    const title = VIEWS.find((v) => v.id === route)?.title ?? 'Sign in';
    document.title = `${title} · Tessera console`;
  }, [route]);

  if (!session) return <Loading what="your identity" />;
  const title = VIEWS.find((v) => v.id === route)?.title ?? 'Sign in';
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Tessera</span>
        <nav aria-label="Views">
          <ul>
            {VIEWS.map((v) => (
              <li key={v.id}>
                <a href={`#/${v.id}`} aria-current={route === v.id ? 'page' : undefined}>
                  {v.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <a class="who" href="#/signin" aria-current={route === 'signin' ? 'page' : undefined}>
          {session.tls ? `${session.tls.role} ${session.tls.name}` : 'not signed in'}
          {session.member ? ` · member ${session.member.name}` : ''}
        </a>
      </header>
      <main id="main">
        <h1 tabIndex={-1}>{title}</h1>
        {error ? <ErrorBox error={error} title="Could not ask the node who you are" /> : null}
        {route === 'signin' ? (
          <SignIn
            session={session}
            setSession={setSession}
            forgetMember={async () => {
              await forgetMember();
              setSession({ ...session, member: null });
            }}
          />
        ) : (
          <LazyView id={route} props={{ session, setSession }} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
