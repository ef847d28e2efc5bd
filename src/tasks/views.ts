import type { TaskRecord } from './types.js';

const collaborators = (t: TaskRecord) => t.collaborator_list.map((c) => ({ user_id: c.user_id, approved: c.approved }));
const fileRefs = (refs: TaskRecord['input_files']) => refs.map((f) => ({ user_id: f.user_id, file_id: f.file_id }));

// The documented shapes of a task, in MesaTEE's key order, shared by the wire and REST APIs so the
// two always agree.

/** TMS external `task_info`, as `user` sees it. */
export const userTaskView = (t: TaskRecord, user: string) => ({
  user_id: t.user_id,
  function_name: t.function_name,
  function_type: t.function_type,
  status: t.status,
  ip: t.ip,
  port: t.port,
  task_token: t.task_token,
  collaborator_list: collaborators(t),
  task_result_file_id: t.task_result_file_id,
  user_private_result_file_id: t.output_files.filter((f) => f.user_id === user).map((f) => f.file_id),
});

/** TMS internal `task_info`, for services. */
export const serviceTaskView = (t: TaskRecord) => ({
  user_id: t.user_id,
  collaborator_list: collaborators(t),
  approved_user_number: t.approved_user_number,
  function_name: t.function_name,
  function_type: t.function_type,
  status: t.status,
  ip: t.ip,
  port: t.port,
  task_token: t.task_token,
  input_files: fileRefs(t.input_files),
  output_files: fileRefs(t.output_files),
  task_result_file_id: t.task_result_file_id,
});
