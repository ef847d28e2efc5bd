import { useState } from 'preact/hooks';
import { get, request } from '../api.js';
import { ErrorBox, Section, Show, Table, useLoad } from '../components.js';
import type { ViewProps } from '../main.js';
import type { ReceiptVerdict } from '../../lib/receipt.js';

// The ledger: recent transactions, and a receipt for any of them verified here, in the browser, with the
// algorithm `tessera ledger receipt` uses (lib/receipt.ts), against a service certificate the user chooses.

const RECENT = 20;

async function loadRecent(): Promise<Array<{ id: string; status: string }>> {
  const { transaction_id } = await get<{ transaction_id: string }>('/app/commit');
  const [view, seqno] = transaction_id.split('.').map(Number);
  const ids = Array.from({ length: Math.min(RECENT, seqno) }, (_, i) => `${view}.${seqno - i}`);
  return Promise.all(ids.map((id) => get<{ status: string }>(`/app/tx?transaction_id=${id}`).then((r) => ({ id, status: r.status }))));
}

/** A receipt may take a moment (CCF answers 202 while it fetches history): asked again a few times. */
async function fetchReceipt(txid: string): Promise<unknown> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const res = await request('GET', `/app/receipt?transaction_id=${encodeURIComponent(txid)}`);
    if (res.status === 200) return res.json();
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`the node has no receipt for ${txid} yet (it answered 202 ten times): is the transaction committed?`);
}

async function fingerprint(pem: string): Promise<string> {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', der));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join(':').toUpperCase();
}

function Verify({ txid, setTxid }: { txid: string; setTxid: (t: string) => void }) {
  const served = useLoad(() => get<{ service_certificate: string }>('/node/network').then(async (n) => ({ pem: n.service_certificate, fp: await fingerprint(n.service_certificate) })));
  const [cert, setCert] = useState<string | null>(null);
  const [result, setResult] = useState<{ txid: string; verdict: ReceiptVerdict; receipt: unknown } | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Show loaded={served} what="the service certificate">
      {(svc) => (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            setError(null);
            setResult(null);
            try {
              const { verifyReceiptInBrowser } = await import('../../lib/receipt.js');
              if (!/^\d+\.\d+$/.test(txid.trim())) throw new Error(`'${txid}' is not a transaction id: it is VIEW.SEQNO, e.g. 2.15`);
              const receipt = await fetchReceipt(txid.trim());
              setResult({ txid: txid.trim(), verdict: await verifyReceiptInBrowser(receipt, cert ?? svc.pem), receipt });
            } catch (err) {
              setError(err as Error);
            } finally {
              setBusy(false);
            }
          }}
        >
          <label>
            Transaction id (VIEW.SEQNO)
            <input name="txid" value={txid} onInput={(e) => setTxid((e.target as HTMLInputElement).value)} placeholder="2.15" required />
          </label>
          <label>
            Service certificate to verify against (PEM)
            <textarea name="service-cert" rows={3} spellcheck={false} value={cert ?? ''} onInput={(e) => setCert((e.target as HTMLTextAreaElement).value || null)} placeholder="empty: the certificate this node serves" />
          </label>
          <p class="empty">
            Empty, the check uses the certificate this node serves (SHA-256 {svc.fp.slice(0, 23)}…). For a check that does not trust this node, paste the service certificate (ca.pem) you
            received out of band.
          </p>
          <button type="submit" class="primary" disabled={busy}>
            Fetch and verify the receipt
          </button>
          {error ? <ErrorBox error={error} title="No verdict" /> : null}
          {result ? (
            <div aria-live="polite">
              <p class={`verdict ${result.verdict.ok ? 'ok' : 'bad'}`} role="status">
                {result.verdict.ok ? `Receipt for ${result.txid} verifies` : `Receipt for ${result.txid} does NOT verify: ${result.verdict.reason}`}
              </p>
              <ul class="checks">
                {result.verdict.checks.map((c) => (
                  <li key={c.name} class={c.ok ? 'ok' : 'bad'}>
                    {c.ok ? '✓' : '✗'} {c.name}: <span class="mono">{c.detail}</span>
                  </li>
                ))}
              </ul>
              <details>
                <summary>The receipt (CCF JSON)</summary>
                <pre>{JSON.stringify(result.receipt, null, 2)}</pre>
              </details>
            </div>
          ) : null}
        </form>
      )}
    </Show>
  );
}

export default function LedgerView(_props: ViewProps) {
  const recent = useLoad(loadRecent);
  const [txid, setTxid] = useState(location.hash.split('/')[2] ?? '');
  return (
    <>
      <Section title="Verify a receipt">
        <Verify txid={txid} setTxid={setTxid} />
      </Section>
      <Section title="Recent transactions" actions={<button onClick={recent.reload}>Refresh</button>}>
        <Show loaded={recent} what="recent transactions">
          {(rows) => (
            <Table head={['Transaction', 'Status', 'Receipt']}>
                {rows.map((r) => (
                  <tr key={r.id}>
                    <td class="mono">{r.id}</td>
                    <td>{r.status}</td>
                    <td>
                      <button type="button" onClick={() => setTxid(r.id)} aria-label={`Choose transaction ${r.id} for verification`}>
                        Choose
                      </button>
                    </td>
                  </tr>
                ))}
              </Table>
          )}
        </Show>
      </Section>
    </>
  );
}
