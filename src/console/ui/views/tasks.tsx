import { useRef, useState } from 'preact/hooks';
import { get, json } from '../api.js';
import { ActionButton, Done, Empty, ErrorBox, Section, Show, useInterval, useLoad } from '../components.js';
import { type FileInfo, downloadFile, preview, saveBlob } from '../file-transfer.js';
import type { ViewProps } from '../main.js';

// Tasks: create one naming collaborators and your files, see who approved with which files, approve with
// your own, invoke, and read your private results (decrypted here). Status is polled while the view is open.

interface Task {
  task_id: string;
  user_id: string;
  function_name: string;
  function_type: 'Single' | 'Multiparty';
  status: string;
  task_token: string;
  collaborator_list: Array<{ user_id: string; approved: boolean }>;
  input_files: Array<{ user_id: string; file_id: string }>;
  task_result_file_id: string | null;
  user_private_result_file_id: string[];
  function_hash: string | null;
}

interface Fn {
  name: string;
  type: string;
  description?: string;
  owner?: string;
  code_hash?: string;
}

const loadTasks = async (): Promise<Task[]> => {
  const { tasks } = await get<{ tasks: string[] }>('/v1/tasks');
  const all = await Promise.all(tasks.map((id) => get<Omit<Task, 'task_id'>>(`/v1/tasks/${encodeURIComponent(id)}`).then((t) => ({ task_id: id, ...t }))));
  return all.reverse();
};

const loadMyFiles = async (): Promise<Array<{ id: string; name: string }>> => {
  const { files } = await get<{ files: string[] }>('/v1/files');
  const infos = await Promise.all(files.map((id) => get<FileInfo>(`/v1/files/${encodeURIComponent(id)}`).then((i) => ({ id, name: i.file_name, result: i.task_id !== null }))));
  return infos.filter((f) => !f.result).map(({ id, name }) => ({ id, name }));
};

function FilePicker({ files, name, legend }: { files: Array<{ id: string; name: string }>; name: string; legend: string }) {
  if (files.length === 0) return <Empty>You have no uploaded files to contribute: upload one in the Files view.</Empty>;
  return (
    <fieldset>
      <legend>{legend}</legend>
      {files.map((f) => (
        <label key={f.id}>
          <input type="checkbox" name={name} value={f.id} />
          {f.name} <span class="mono">({f.id})</span>
        </label>
      ))}
    </fieldset>
  );
}

const checked = (form: HTMLFormElement, name: string) => [...form.querySelectorAll<HTMLInputElement>(`input[name="${name}"]:checked`)].map((i) => i.value);

function CreateTask({ onCreated }: { onCreated: () => void }) {
  const fns = useLoad(() => get<{ functions: Fn[] }>('/v1/functions').then((r) => r.functions));
  const files = useLoad(loadMyFiles);
  const [error, setError] = useState<Error | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setError(null);
    try {
      const function_name = (form.elements.namedItem('function') as HTMLSelectElement).value;
      const collaborator_list = (form.elements.namedItem('collaborators') as HTMLInputElement).value.split(/[\s,]+/).filter(Boolean);
      const r = await json<{ task_id: string; status: string }>('POST', '/v1/tasks', { function_name, collaborator_list, files: checked(form, 'create-file') });
      setCreated(`Created task ${r.task_id} (${r.status})`);
      form.reset();
      onCreated();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <Show loaded={fns} what="the functions">
      {(list) => (
        <form onSubmit={submit}>
          <label>
            Function
            <select name="function" required>
              {list.map((f) => (
                <option value={f.name} key={f.name}>
                  {f.name} ({f.type}
                  {f.owner ? `, by ${f.owner}` : ''})
                </option>
              ))}
            </select>
          </label>
          <label>
            Collaborators (user names, comma-separated)
            <input name="collaborators" type="text" placeholder="bob, carol" autocomplete="off" />
          </label>
          <Show loaded={files} what="your files">
            {(mine) => <FilePicker files={mine} name="create-file" legend="Your input files" />}
          </Show>
          <button type="submit" class="primary">
            Create task
          </button>
          <Done message={created} />
          {error ? <ErrorBox error={error} title="Task not created" /> : null}
        </form>
      )}
    </Show>
  );
}

function Result({ fileId }: { fileId: string }) {
  const [shown, setShown] = useState<{ hex: string; text: string | null; bytes: number[]; name: string; blob: Blob } | null>(null);
  return (
    <div>
      <ActionButton
        label={`Read result ${fileId}`}
        onClick={async () => {
          const { info, plaintext } = await downloadFile(fileId);
          setShown({ ...(await preview(plaintext)), name: info.file_name, blob: plaintext });
        }}
      >
        Read result <span class="mono">{fileId.slice(0, 8)}…</span>
      </ActionButton>
      {shown ? (
        <div>
          <pre aria-label={`result ${fileId}`} class="result" data-bytes={shown.bytes.join(',')}>
            {shown.text ?? `bytes: [${shown.bytes.join(', ')}]\nhex:   ${shown.hex}`}
          </pre>
          <button type="button" onClick={() => saveBlob(shown.blob, shown.name)}>
            Save
          </button>
        </div>
      ) : null}
    </div>
  );
}

function TaskCard({ task, me, onChange }: { task: Task; me: string; onChange: () => void }) {
  const mineToApprove = task.collaborator_list.find((c) => c.user_id === me && !c.approved);
  const files = useLoad(() => (mineToApprove ? loadMyFiles() : Promise.resolve([])), [!!mineToApprove]);
  const [payload, setPayload] = useState('');
  const approveForm = useRef<HTMLFormElement>(null);
  return (
    <article class="task" aria-labelledby={`task-${task.task_id}`} data-task-id={task.task_id} data-status={task.status}>
      <h3 id={`task-${task.task_id}`}>
        {task.function_name} <span class="mono">{task.task_id}</span>{' '}
        <span class="badge task-status" aria-live="polite">
          {task.status}
        </span>
      </h3>
      <dl class="facts">
        <dt>Created by</dt>
        <dd>{task.user_id}</dd>
        <dt>Function hash</dt>
        <dd class="mono">{task.function_hash ?? 'built-in'}</dd>
        <dt>Approvals</dt>
        <dd>
          <ul class="approvals">
            {task.collaborator_list.length === 0 ? <li>no collaborators</li> : null}
            {task.collaborator_list.map((c) => (
              <li key={c.user_id}>
                {c.user_id}: {c.approved ? <span class="ok">approved</span> : <span class="bad">not yet</span>}
              </li>
            ))}
          </ul>
        </dd>
        <dt>Input files</dt>
        <dd>
          <ul>
            {task.input_files.map((f) => (
              <li key={f.file_id}>
                {f.user_id}: <span class="mono">{f.file_id}</span>
              </li>
            ))}
          </ul>
        </dd>
      </dl>
      {mineToApprove ? (
        <form ref={approveForm} onSubmit={(e) => e.preventDefault()} aria-label={`Approve task ${task.task_id}`}>
          <Show loaded={files} what="your files">
            {(mine) => <FilePicker files={mine} name={`approve-${task.task_id}`} legend="Approve with your files" />}
          </Show>
          <ActionButton
            kind="primary"
            onClick={async () => {
              await json('POST', `/v1/tasks/${encodeURIComponent(task.task_id)}/approve`, { files: checked(approveForm.current!, `approve-${task.task_id}`), ...(task.function_hash ? { function_hash: task.function_hash } : {}) });
              onChange();
            }}
          >
            Approve
          </ActionButton>
        </form>
      ) : null}
      {task.status === 'Ready' ? (
        <div>
          <label>
            Payload (optional)
            <textarea name="payload" rows={2} value={payload} onInput={(e) => setPayload((e.target as HTMLTextAreaElement).value)} />
          </label>
          <ActionButton
            kind="primary"
            onClick={async () => {
              await json('POST', `/v1/tasks/${encodeURIComponent(task.task_id)}/invoke`, { task_token: task.task_token, payload: payload || null });
              onChange();
            }}
          >
            Invoke
          </ActionButton>
        </div>
      ) : null}
      {task.user_private_result_file_id.length > 0 ? (
        <div>
          <h4>Your results</h4>
          {task.user_private_result_file_id.map((id) => (
            <Result key={id} fileId={id} />
          ))}
        </div>
      ) : null}
    </article>
  );
}

export default function TasksView({ session }: ViewProps) {
  const tasks = useLoad(loadTasks, [session.tls?.name]);
  // Live: a collaborator's approval or a finished run shows up without a reload.
  useInterval(() => tasks.state !== 'loading' && tasks.reload(), 1500);
  if (session.tls?.role !== 'user') return <ErrorBox error="Tasks belong to users: sign in as a user (Sign in, top right)." />;
  return (
    <>
      <Section title="New task">
        <CreateTask onCreated={tasks.reload} />
      </Section>
      <Section title="Your tasks">
        <Show loaded={tasks} what="your tasks">
          {(list) =>
            list.length === 0 ? (
              <Empty>No tasks yet: create one above, or wait for someone to name you as a collaborator.</Empty>
            ) : (
              list.map((t) => <TaskCard key={t.task_id} task={t} me={session.tls!.name} onChange={tasks.reload} />)
            )
          }
        </Show>
      </Section>
    </>
  );
}
