import type { FileService } from '../files/service.js';
import type { PrincipalService } from '../identity/principals.js';
import { createdFileView, serviceFileView, userFileView } from '../files/views.js';
import { authenticateRequest } from './auth.js';
import { type MessageHandler, exactObject, str, strList, tagged, u32 } from './dispatch.js';

const credentials = { user_id: str, user_token: str };
type Creds = { user_id: string; user_token: string };

/**
 * TDFS external (5065). `access_path` is the https URL where the client PUTs the ciphertext it made
 * with `key_config`, and later GETs it. In the v0.1 compatibility mode (wire.mesatee_v01_file_dir),
 * Create's access_path is `<dir>/<file_id>` instead, as v0.1's shared /tmp: the client writes the
 * ciphertext there and the node takes it in, verified, on the file's first use (FileService.pickUp);
 * and Get's access_path is `<dir>/<file_id>` too, where the node has put the ciphertext for the client
 * to read, as v0.1's TDFS client reads it (FileService.wireGetAccessPath).
 */
export function tdfsExternal(files: FileService, principals: PrincipalService): MessageHandler {
  return tagged('TDFS', {
    Create: {
      schema: exactObject({ file_name: str, sha256: str, file_size: u32, ...credentials }),
      handler: async (req: Creds & { file_name: string; sha256: string; file_size: number }, caller) => {
        const owner = await authenticateRequest(principals, req, caller);
        const { record, config } = files.create({ owner, file_name: req.file_name, sha256: req.sha256, file_size: req.file_size, v01Upload: files.v01Mode });
        return { type: 'Create', ...createdFileView(record, config, files.wireCreateAccessPath(record)) };
      },
    },
    Get: {
      schema: exactObject({ file_id: str, ...credentials }),
      handler: async (req: Creds & { file_id: string }, caller) => {
        const user = await authenticateRequest(principals, req, caller);
        await files.pickUp([req.file_id], user);
        const { record, config } = files.info(req.file_id, user);
        return { type: 'Get', file_info: userFileView(record, config, await files.wireGetAccessPath(record)) };
      },
    },
    List: {
      schema: exactObject(credentials),
      handler: async (req: Creds, caller) => ({ type: 'List', list: files.list(await authenticateRequest(principals, req, caller)) }),
    },
    Delete: {
      schema: exactObject({ file_id: str, ...credentials }),
      handler: async (req: Creds & { file_id: string }, caller) => {
        const user = await authenticateRequest(principals, req, caller);
        const { record, config } = await files.delete(req.file_id, user);
        return { type: 'Delete', file_info: userFileView(record, config, files.accessPath(record.file_id)) };
      },
    },
  });
}

/** TDFS internal (5066), for services: Create on a user's behalf, and Get without the key. */
export function tdfsInternal(files: FileService): MessageHandler {
  return tagged('TDFS internal', {
    Create: {
      schema: exactObject({ sha256: str, file_size: u32, user_id: str, task_id: str, collaborator_list: strList, allow_policy: u32 }),
      handler: (req: { sha256: string; file_size: number; user_id: string; task_id: string; collaborator_list: string[]; allow_policy: number }) => {
        const { record, config } = files.createInternal(req);
        return { type: 'Create', ...createdFileView(record, config, files.accessPath(record.file_id)) };
      },
    },
    Get: {
      schema: exactObject({ file_id: str }),
      handler: (req: { file_id: string }) => {
        const r = files.infoInternal(req.file_id);
        return { type: 'Get', file_info: serviceFileView(r, files.accessPath(r.file_id)) };
      },
    },
  });
}
