import type { FileService } from '../files/service.js';
import type { TaskService } from '../tasks/service.js';
import { type MessageHandler, exactObject, str, strOrNull, untagged } from './dispatch.js';

/** FNS (3444): untagged Invoke. The caller's certificate must be a participant's (MesaTEE v0.1 checked no user). */
export function fns(tasks: TaskService, files?: FileService): MessageHandler {
  return untagged(
    'FNS Invoke',
    exactObject({ task_id: str, function_name: str, task_token: str, payload: strOrNull }),
    async (req: { task_id: string; function_name: string; task_token: string; payload: string | null }, caller) => {
      if (files?.v01Mode) {
        // v0.1 mode: the invoker's own inputs, if any still wait at their access_path (a task only takes files
        // with content, so this finds nothing unless a file's content went missing in between).
        let inputs: string[] = [];
        try {
          inputs = tasks.getInternal(req.task_id).input_files.map((f) => f.file_id);
        } catch {
          // an unknown task: invoke reports it
        }
        await files.pickUp(inputs, caller.name);
      }
      return { result: await tasks.invoke({ ...req, user: caller.name }) };
    },
  );
}
