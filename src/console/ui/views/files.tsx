import { useRef, useState } from 'preact/hooks';
import { get, json } from '../api.js';
import { ActionButton, Done, Empty, ErrorBox, formatBytes, Progress, type ProgressState, Section, Show, Table, useLoad } from '../components.js';
import { type FileInfo, downloadFile, preview, saveBlob, uploadFile } from '../file-transfer.js';
import type { ViewProps } from '../main.js';

// Files: encrypted here before upload, decrypted here after download; the node stores ciphertext only.

async function loadFiles(): Promise<Array<{ id: string; info: FileInfo | null; error?: string }>> {
  const { files } = await get<{ files: string[] }>('/v1/files');
  return Promise.all(
    files.map((id) =>
      get<FileInfo>(`/v1/files/${encodeURIComponent(id)}`).then(
        (info) => ({ id, info }),
        (err: Error) => ({ id, info: null, error: err.message }),
      ),
    ),
  );
}

function Upload({ onUploaded }: { onUploaded: (id: string) => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [progress, setProgress] = useState<ProgressState | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);
  const start = async (e: Event) => {
    e.preventDefault();
    const file = input.current?.files?.[0];
    if (!file) return setError(new Error('choose a file to upload first'));
    setError(null);
    setDone(null);
    abort.current = new AbortController();
    try {
      const id = await uploadFile(file, setProgress, abort.current.signal);
      setDone(`Uploaded ${file.name} as ${id}`);
      onUploaded(id);
      input.current!.value = '';
    } catch (err) {
      setError(err as Error);
    } finally {
      setProgress(null);
      abort.current = null;
    }
  };
  return (
    <form onSubmit={start}>
      <label>
        File to encrypt and upload
        <input ref={input} name="upload" type="file" />
      </label>
      <button type="submit" class="primary" disabled={progress !== null}>
        Encrypt and upload
      </button>
      {progress ? (
        <>
          <button type="button" onClick={() => abort.current?.abort()}>
            Cancel
          </button>
          <Progress p={progress} label="Upload" />
        </>
      ) : null}
      <Done message={done} />
      {error ? <ErrorBox error={error} title="Upload failed" /> : null}
    </form>
  );
}

function FileRow({ id, info, error, onDeleted }: { id: string; info: FileInfo | null; error?: string; onDeleted: () => void }) {
  const [progress, setProgress] = useState<ProgressState | null>(null);
  const [shown, setShown] = useState<{ hex: string; text: string | null } | null>(null);
  if (!info)
    return (
      <tr>
        <td class="mono">{id}</td>
        <td colSpan={4}>
          <ErrorBox error={error ?? 'unreadable'} />
        </td>
      </tr>
    );
  return (
    <tr data-file-id={id}>
      <td>
        <strong>{info.file_name}</strong>
        <div class="mono">{id}</div>
      </td>
      <td>{formatBytes(info.file_size)}</td>
      <td class="mono" title={info.sha256}>
        {info.sha256.slice(0, 16)}…
      </td>
      <td>{info.task_id ? <a href={`#/tasks/${info.task_id}`}>result of task {info.task_id.slice(0, 8)}…</a> : 'uploaded'}</td>
      <td>
        <ActionButton
          label={`Download and decrypt ${info.file_name}`}
          onClick={async () => {
            const { plaintext } = await downloadFile(id, setProgress);
            setProgress(null);
            setShown(await preview(plaintext));
            saveBlob(plaintext, info.file_name);
          }}
        >
          Download
        </ActionButton>
        <ActionButton
          kind="danger"
          label={`Delete ${info.file_name}`}
          onClick={async () => {
            if (!confirm(`Delete ${info.file_name} (${id})? This cannot be undone.`)) return;
            await json('DELETE', `/v1/files/${encodeURIComponent(id)}`);
            onDeleted();
          }}
        >
          Delete
        </ActionButton>
        {progress ? <Progress p={progress} label="Download" /> : null}
        {shown ? (
          <pre aria-label={`decrypted content of ${info.file_name}`} class="decrypted">
            {shown.text ?? shown.hex}
          </pre>
        ) : null}
      </td>
    </tr>
  );
}

export default function FilesView({ session }: ViewProps) {
  const files = useLoad(loadFiles, [session.tls?.name]);
  if (session.tls?.role !== 'user') return <ErrorBox error="Files belong to users: sign in as a user (Sign in, top right) to see and upload yours." />;
  return (
    <>
      <Section title="Upload">
        <Upload onUploaded={() => files.reload()} />
      </Section>
      <Section title="Your files" actions={<button onClick={files.reload}>Refresh</button>}>
        <Show loaded={files} what="your files">
          {(list) =>
            list.length === 0 ? (
              <Empty>You have no files yet. Upload one above: it is encrypted in this browser first.</Empty>
            ) : (
              <Table head={['Name', 'Size', 'SHA-256', 'Origin', 'Actions']}>
                  {list.map((f) => (
                    <FileRow key={f.id} {...f} onDeleted={files.reload} />
                  ))}
                </Table>
            )
          }
        </Show>
      </Section>
    </>
  );
}
