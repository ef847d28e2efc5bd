import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

// The pieces every view shares: loading, error and empty states, a progress bar that speaks plaintext
// bytes, and a small line chart. Each view is built from these so they all behave (and read) alike.

export type Loaded<T> = { state: 'loading' } | { state: 'error'; error: Error } | { state: 'ready'; data: T };

/** Runs `load` on mount and when `deps` change; `reload` runs it again. A later answer replaces an earlier one. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> & { reload: () => void } {
  const [result, setResult] = useState<Loaded<T>>({ state: 'loading' });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    load().then(
      (data) => mine === generation.current && setResult({ state: 'ready', data }),
      (error: Error) => mine === generation.current && setResult({ state: 'error', error }),
    );
  }, deps);
  useEffect(run, [run]);
  return { ...result, reload: run };
}

/** Calls `tick` every `ms` while the component is shown (live views). */
export function useInterval(tick: () => void, ms: number) {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms]);
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function ErrorBox({ error, title }: { error: Error | string; title?: string }) {
  const message = typeof error === 'string' ? error : error.message;
  return (
    <div class="error" role="alert">
      {title ? <strong>{title}: </strong> : null}
      {message}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** Loading, error or the content, from a useLoad result. */
export function Show<T>({ loaded, what, children }: { loaded: Loaded<T>; what: string; children: (data: T) => ComponentChildren }) {
  if (loaded.state === 'loading') return <Loading what={what} />;
  if (loaded.state === 'error') return <ErrorBox error={loaded.error} title={`Could not load ${what}`} />;
  return <>{children(loaded.data)}</>;
}

export const formatBytes = (n: number) => {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
};

export const formatSeconds = (s: number) => (!Number.isFinite(s) ? '—' : s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`);

export interface ProgressState {
  stage: string;
  done: number;
  total: number;
  startedAt: number;
}

/** Progress in plaintext bytes, with speed and time left, announced politely to screen readers. */
export function Progress({ p, label }: { p: ProgressState; label: string }) {
  const seconds = Math.max(0.001, (performance.now() - p.startedAt) / 1000);
  const speed = p.done / seconds;
  const left = speed > 0 ? (p.total - p.done) / speed : Infinity;
  const pct = p.total ? Math.floor((p.done / p.total) * 100) : 100;
  return (
    <div class="progress">
      <label>
        {label}: {p.stage}
        <progress max={p.total || 1} value={p.done} aria-valuetext={`${pct}%`} />
      </label>
      <span class="progress-text" aria-live="polite">
        {formatBytes(p.done)} of {formatBytes(p.total)} ({pct}%) · {formatBytes(speed)}/s · {formatSeconds(left)} left
      </span>
    </div>
  );
}

/** A line chart of the last values, for metrics; no axis library, just SVG with a frame and its peak. */
export function LineChart({ values, label, unit }: { values: number[]; label: string; unit: string }) {
  const w = 320;
  const h = 80;
  const max = Math.max(1e-9, ...values);
  const points = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * w},${h - (v / max) * (h - 6) - 3}`).join(' ');
  const last = values.length ? values[values.length - 1] : 0;
  const described = values.length < 2 ? `${label}: waiting for a second sample` : `${label}: latest ${last.toFixed(2)} ${unit}, peak ${max.toFixed(2)} ${unit}`;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={described}>
        <rect x="0.5" y="0.5" width={w - 1} height={h - 1} fill="#fff" stroke="#c8ccd2" />
        {values.length < 2 ? (
          <text x={w / 2} y={h / 2} text-anchor="middle" fill="#4a4a4a" font-size="12">
            waiting for a second sample…
          </text>
        ) : (
          <polyline points={points} fill="none" stroke="currentColor" stroke-width="2" />
        )}
      </svg>
      <figcaption>
        {label}: <strong>{last.toFixed(2)}</strong> {unit} (peak {values.length ? max.toFixed(2) : '—'})
      </figcaption>
    </figure>
  );
}

/** A button that runs an async action, shows it running, and reports its failure next to it. */
export function ActionButton({ onClick, children, kind, disabled, label }: { onClick: () => Promise<unknown>; children: ComponentChildren; kind?: 'danger' | 'primary'; disabled?: boolean; label?: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  return (
    <span class="action">
      <button
        type="button"
        class={kind}
        aria-label={label}
        disabled={busy || disabled}
        aria-busy={busy}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            await onClick();
          } catch (err) {
            setError(err as Error);
          } finally {
            setBusy(false);
          }
        }}
      >
        {children}
      </button>
      {error ? <ErrorBox error={error} /> : null}
    </span>
  );
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section aria-labelledby={`h-${title.replace(/\W+/g, '-')}`}>
      <header class="section-head">
        <h2 id={`h-${title.replace(/\W+/g, '-')}`}>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

/** A success message, announced politely. */
export function Done({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <p class="ok" role="status">
      {message}
    </p>
  );
}

/** A table with column headers; its rows are the children. */
export function Table({ head, children }: { head: string[]; children: ComponentChildren }) {
  return (
    <table>
      <thead>
        <tr>
          {head.map((h) => (
            <th scope="col" key={h}>
              {h}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}
