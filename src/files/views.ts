import { type KeyConfig, keyConfigJson } from '../kms/service.js';
import type { FileRecord } from './service.js';

// The documented shapes of a file, in MesaTEE's key order, shared by the wire and REST APIs.

/** The keys both `file_info` forms start with, in order. */
const commonFileView = (r: FileRecord, accessPath: string) => ({
  user_id: r.user_id,
  file_name: r.file_name,
  sha256: r.sha256,
  file_size: r.file_size,
  access_path: accessPath,
  task_id: r.task_id,
  collaborator_list: [...r.collaborator_list],
});

/** TDFS external `file_info`: with the key, for permitted users. */
export const userFileView = (r: FileRecord, config: KeyConfig, accessPath: string) => ({
  ...commonFileView(r, accessPath),
  key_config: keyConfigJson(config),
});

/** TDFS internal `file_info`: the key id instead of the key. */
export const serviceFileView = (r: FileRecord, accessPath: string) => ({
  ...commonFileView(r, accessPath),
  allow_policy: r.allow_policy,
  key_id: r.key_id,
});

/** The reply to Create: where to PUT the ciphertext and the key to make it with. */
export const createdFileView = (r: FileRecord, config: KeyConfig, accessPath: string) => ({
  file_id: r.file_id,
  access_path: accessPath,
  key_config: keyConfigJson(config),
});
