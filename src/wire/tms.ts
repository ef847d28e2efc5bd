import type { FileService } from '../files/service.js';
import type { PrincipalService } from '../identity/principals.js';
import type { TaskService } from '../tasks/service.js';
import type { TaskStatus } from '../tasks/types.js';
import { serviceTaskView, userTaskView } from '../tasks/views.js';
import { authenticateRequest } from './auth.js';
import { type MessageHandler, exactObject, str, strList, strOrNull, tagged } from './dispatch.js';

const credentials = { user_id: str, user_token: str };
const statusOrNull = { enum: ['Created', 'Ready', 'Running', 'Finished', 'Failed', null] };
const taskFile = exactObject({ user_id: str, file_id: str });

type Creds = { user_id: string; user_token: string };

/** TMS external (5554): Create, Get, Update, List, replying in MesaTEE's documented key order. */
export function tmsExternal(tasks: TaskService, principals: PrincipalService, files?: FileService): MessageHandler {
  return tagged('TMS', {
    Create: {
      schema: exactObject({ function_name: str, collaborator_list: strList, files: strList, ...credentials }),
      handler: async (req: Creds & { function_name: string; collaborator_list: string[]; files: string[] }, caller) => {
        const creator = await authenticateRequest(principals, req, caller);
        await files?.pickUp(req.files, creator); // v0.1 mode: ciphertext a client wrote to access_path
        const t = tasks.create({ creator, function_name: req.function_name, collaborator_list: req.collaborator_list, files: req.files });
        return { type: 'Create', task_id: t.task_id, task_token: t.task_token, ip: t.ip, port: t.port };
      },
    },
    Get: {
      schema: exactObject({ task_id: str, ...credentials }),
      handler: async (req: Creds & { task_id: string }, caller) => {
        const user = await authenticateRequest(principals, req, caller);
        const t = tasks.getForUser(req.task_id, user);
        return { type: 'Get', task_info: userTaskView(t, user) };
      },
    },
    Update: {
      schema: exactObject({ task_id: str, files: strList, ...credentials }),
      handler: async (req: Creds & { task_id: string; files: string[] }, caller) => {
        const user = await authenticateRequest(principals, req, caller);
        await files?.pickUp(req.files, user);
        const t = tasks.approve({ task_id: req.task_id, files: req.files, user });
        return { type: 'Update', success: true, status: t.status, ip: t.ip, port: t.port, task_token: t.task_token };
      },
    },
    List: {
      schema: exactObject(credentials),
      handler: async (req: Creds, caller) => {
        const user = await authenticateRequest(principals, req, caller);
        return { type: 'List', list: tasks.listForUser(user) };
      },
    },
  });
}

/** TMS internal (5555), for services: Get and Update of whole task records. */
export function tmsInternal(tasks: TaskService): MessageHandler {
  return tagged('TMS internal', {
    Get: {
      schema: exactObject({ task_id: str }),
      handler: (req: { task_id: string }) => ({ type: 'Get', task_info: serviceTaskView(tasks.getInternal(req.task_id)) }),
    },
    Update: {
      schema: exactObject({ task_id: str, task_result_file_id: strOrNull, output_files: { type: 'array', items: taskFile }, status: statusOrNull }),
      handler: (req: { task_id: string; task_result_file_id: string | null; output_files: { user_id: string; file_id: string }[]; status: TaskStatus | null }) => ({
        type: 'Update',
        success: tasks.updateInternal(req),
      }),
    },
  });
}
