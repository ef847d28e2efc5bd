import type { TaskService } from '../tasks/service.js';
import { type MessageHandler, exactObject, str, strOrNull, untagged } from './dispatch.js';

/** FNS (3444): untagged Invoke. The caller's certificate must be a participant's (MesaTEE v0.1 checked no user). */
export function fns(tasks: TaskService): MessageHandler {
  return untagged(
    'FNS Invoke',
    exactObject({ task_id: str, function_name: str, task_token: str, payload: strOrNull }),
    async (req: { task_id: string; function_name: string; task_token: string; payload: string | null }, caller) => ({
      result: await tasks.invoke({ ...req, user: caller.name }),
    }),
  );
}
