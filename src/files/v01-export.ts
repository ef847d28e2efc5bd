import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TesseraError } from '../errors/index.js';
import { newUuid } from '../crypto/random.js';

/**
 * The read half of the MesaTEE v0.1 compatibility mode (wire.mesatee_v01_file_dir). v0.1's TDFS client
 * reads a file by TDFS Get, then reads the ciphertext from the returned access_path on the shared file
 * system and opens it with key_config. So the node puts the file's ciphertext (what an HTTPS download
 * serves) at `<dir>/<file_id>` before it answers the Get.
 */
export async function exportCiphertext(dir: string, fileId: string, source: Readable): Promise<string> {
  if (!/^[0-9a-f-]{36}$/.test(fileId)) throw new TesseraError('invalid_input', `'${fileId}' is not a file id`);
  const target = join(dir, fileId);
  // A fresh name opened with O_EXCL cannot be a link someone planted; rename then replaces whatever
  // entry is at the target (a symlink included, never what it points to), and a reader sees either
  // the old copy or the whole new one.
  const temp = join(dir, `.${fileId}.${newUuid()}`);
  try {
    await pipeline(source, createWriteStream(temp, { flags: 'wx', mode: 0o600 }));
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw new TesseraError('internal', `could not place file ${fileId}'s ciphertext at ${target} for a v0.1 client (${(err as Error).message})`);
  }
  return target;
}

/** Removes a file's copy in the v0.1 directory, if any (the file was deleted). */
export async function removeExport(dir: string, fileId: string): Promise<void> {
  if (!/^[0-9a-f-]{36}$/.test(fileId)) return;
  await rm(join(dir, fileId), { force: true });
}
