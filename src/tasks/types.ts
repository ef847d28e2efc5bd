import type { FunctionType, TaskFileRef } from '../functions/registry.js';

export type TaskStatus = 'Created' | 'Ready' | 'Running' | 'Finished' | 'Failed';

export interface Collaborator {
  user_id: string;
  approved: boolean;
}

/** A task as stored: MesaTEE's TMS record plus when and why it changed. */
export interface TaskRecord {
  task_id: string;
  /** The creator. */
  user_id: string;
  function_name: string;
  function_type: FunctionType;
  status: TaskStatus;
  ip: string;
  port: number;
  task_token: string;
  collaborator_list: Collaborator[];
  approved_user_number: number;
  input_files: TaskFileRef[];
  output_files: TaskFileRef[];
  task_result_file_id: string | null;
  created_at: string;
  updated_at: string;
  failure_reason: string | null;
}

/** Whether `file_id` exists and whether `user` may read it (TDFS check_permission). */
export interface FileAccess {
  check(fileId: string, user: string): 'allowed' | 'denied' | 'missing';
}
