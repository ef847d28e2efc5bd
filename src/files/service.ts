import { constants as fsConstants, rmSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import { encryptFile, decryptFile, TAG_BYTES } from '../crypto/aead.js';
import { newUuid, sha256Hex } from '../crypto/random.js';
import type { KeyConfig, KeyService } from '../kms/service.js';
import type { ReadTx, Store, Tx } from '../store/types.js';
import type { BlobStore } from './blob-store.js';
import { exportCiphertext, removeExport } from './v01-export.js';

const FILES = 'files.records';
/** `${owner}\u0000${file_id}` */
const BY_OWNER = 'files.by_owner';

/** 0: owner only; 1: owner and collaborator_list; 2: everyone. */
export type AllowPolicy = 0 | 1 | 2;

export interface FileRecord {
  file_id: string;
  /** The owner. */
  user_id: string;
  file_name: string;
  sha256: string;
  file_size: number;
  key_id: string;
  task_id: string | null;
  collaborator_list: string[];
  allow_policy: AllowPolicy;
  /** pending: created, content not yet verified; uploading: a PUT is streaming; available: verified. */
  state: 'pending' | 'uploading' | 'available';
  /** The node taking the content in, while uploading (see FileServiceOptions.nodeId). */
  uploading_on?: string;
  /** Who may upload the content: the owner, or any service for files a service created. */
  uploader: { kind: 'user'; name: string } | { kind: 'service' };
  created_at: string;
  /** Created over the wire in the v0.1 compatibility mode: the client writes the ciphertext to `<wire.mesatee_v01_file_dir>/<file_id>`. */
  v01_upload?: true;
}

export interface FileServiceOptions {
  /** This node's id: recorded on the uploads it takes in, so that it sweeps only its own cut-off ones after a restart. */
  nodeId?: string;
  store: Store;
  keys: KeyService;
  blobs: BlobStore;
  maxFileBytes: number;
  /** The largest file a function may read into memory. */
  maxFunctionInputBytes: number;
  /** Per user: how many files, and how many declared plaintext bytes, they may own (default: no bound). */
  quota?: { files: number; bytes: number };
  /** A file created but never uploaded goes this long after its creation (default: an hour). */
  pendingTtlMs?: number;
  /** The https URL where a file's ciphertext is PUT and read (MesaTEE's `access_path`). */
  accessPath: (fileId: string) => string;
  /**
   * wire.mesatee_v01_file_dir: when set, a file created over the wire gets `<dir>/<file_id>` as its
   * access_path, and the ciphertext the client writes there is picked up on the file's first use.
   */
  v01FileDir?: string;
  logger: Logger;
}

export interface OutputSpec {
  owner: string;
  taskId: string;
  collaborators: string[];
  allowPolicy: AllowPolicy;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * When a user is removed (`tessera user remove`), what it owned moves to `archiveId` (an id no principal
 * can have), in the caller's transaction: its files (records and BY_OWNER rows), and its place in other
 * files' collaborator_list. A user added later under the same name owns and may read none of it.
 * Returns how many files were moved.
 */
export function archiveFilesOf(tx: Tx, name: string, archiveId: string): number {
  let moved = 0;
  for (const [fileId, record] of tx.list<FileRecord>(FILES)) {
    const owned = record.user_id === name;
    const collaborates = record.collaborator_list.includes(name);
    if (!owned && !collaborates) continue;
    const next: FileRecord = { ...record, collaborator_list: record.collaborator_list.map((c) => (c === name ? archiveId : c)) };
    if (owned) {
      tx.delete(BY_OWNER, `${name}\u0000${fileId}`);
      next.user_id = archiveId;
      tx.put(BY_OWNER, `${archiveId}\u0000${fileId}`, true);
      moved++;
    }
    tx.put(FILES, fileId, next);
  }
  return moved;
}

/** TDFS check_permission. */
export function mayRead(record: FileRecord, user: string): boolean {
  return record.user_id === user || record.allow_policy === 2 || (record.allow_policy === 1 && record.collaborator_list.includes(user));
}

/**
 * The trusted file store. Metadata and wrapped keys live in the Store; ciphertext lives in the blob
 * store and is accepted only once its length, GCM tag and the plaintext's SHA-256 and size match what
 * the owner declared. Plaintext exists only in memory, in functions that read inputs.
 */
export class FileService {
  constructor(private readonly opts: FileServiceOptions) {}

  private validateDeclared(sha256: string, fileSize: number) {
    if (!SHA256_HEX.test(sha256)) throw new TesseraError('invalid_input', `sha256 must be 64 lowercase hex characters, not '${sha256}'`);
    if (fileSize > this.opts.maxFileBytes) {
      throw new TesseraError('too_large', `file_size ${fileSize} is over this node's limit of ${this.opts.maxFileBytes} bytes (files.max_file_bytes)`);
    }
  }

  private insert(tx: Tx, fields: Omit<FileRecord, 'file_id' | 'key_id' | 'state' | 'created_at' | 'v01_upload'> & { v01_upload?: true }): { record: FileRecord; config: KeyConfig } {
    const { keyId, config } = this.opts.keys.createIn(tx);
    const record: FileRecord = { file_id: newUuid(), key_id: keyId, state: 'pending', created_at: new Date().toISOString(), ...fields };
    tx.put(FILES, record.file_id, record);
    tx.put(BY_OWNER, `${record.user_id}\u0000${record.file_id}`, true);
    return { record, config };
  }

  /** TDFS Create: a new file awaiting its ciphertext, with a fresh key. */
  create(input: { owner: string; file_name: string; sha256: string; file_size: number; v01Upload?: boolean }) {
    this.validateDeclared(input.sha256, input.file_size);
    // May be empty: MesaTEE v0.1's SDK upload_file sends "" and v0.1 stores and returns it as given.
    if (input.file_name.length > 255) {
      throw new TesseraError('invalid_input', 'file_name must be at most 255 characters');
    }
    return this.opts.store.transact((tx) => {
      this.checkQuota(tx, input.owner, input.file_size);
      return this.insert(tx, {
        user_id: input.owner,
        file_name: input.file_name,
        sha256: input.sha256,
        file_size: input.file_size,
        task_id: null,
        collaborator_list: [],
        allow_policy: 0,
        uploader: { kind: 'user', name: input.owner },
        ...(input.v01Upload && this.opts.v01FileDir !== undefined ? { v01_upload: true as const } : {}),
      });
    }).result;
  }

  /** Refuses a file past the owner's quota of files or declared bytes (files.max_files_per_user, files.max_bytes_per_user). */
  private checkQuota(tx: ReadTx, owner: string, fileSize: number) {
    const quota = this.opts.quota;
    if (!quota) return;
    const owned = tx.list<boolean>(BY_OWNER, `${owner}\u0000`);
    if (owned.length >= quota.files) {
      throw new TesseraError('too_large', `'${owner}' owns ${owned.length} files, the quota (files.max_files_per_user); delete some first`);
    }
    let bytes = fileSize;
    for (const [key] of owned) bytes += tx.get<FileRecord>(FILES, key.slice(owner.length + 1))?.file_size ?? 0;
    if (bytes > quota.bytes) {
      throw new TesseraError('too_large', `'${owner}' would own ${bytes} bytes of files, over the quota of ${quota.bytes} (files.max_bytes_per_user); delete some first`);
    }
  }

  /** TDFS internal Create: a file a service writes on a user's behalf; its name is the task id. */
  createInternal(input: { sha256: string; file_size: number; user_id: string; task_id: string; collaborator_list: string[]; allow_policy: number }) {
    this.validateDeclared(input.sha256, input.file_size);
    if (![0, 1, 2].includes(input.allow_policy)) throw new TesseraError('invalid_input', `allow_policy must be 0, 1 or 2, not ${input.allow_policy}`);
    return this.opts.store.transact((tx) =>
      this.insert(tx, {
        user_id: input.user_id,
        file_name: input.task_id,
        sha256: input.sha256,
        file_size: input.file_size,
        task_id: input.task_id,
        collaborator_list: input.collaborator_list,
        allow_policy: input.allow_policy as AllowPolicy,
        uploader: { kind: 'service' },
      }),
    ).result;
  }

  /** Receives a file's ciphertext. A failed upload removes the file and its key: the owner starts again with Create. */
  async upload(fileId: string, uploader: { name: string; role: string }, source: Readable): Promise<FileRecord> {
    const { record, config } = this.opts.store.transact((tx) => {
      const r = this.mustGet(tx, fileId);
      const allowed = r.uploader.kind === 'service' ? uploader.role === 'service' : uploader.name === r.uploader.name;
      if (!allowed) throw new TesseraError('permission_denied', `'${uploader.name}' may not upload the content of file ${fileId}`);
      if (r.state === 'available') throw new TesseraError('conflict', `file ${fileId} already has its content; files are never rewritten`);
      if (r.state === 'uploading') throw new TesseraError('conflict', `file ${fileId} is being uploaded on another connection`);
      r.state = 'uploading';
      if (this.opts.nodeId) r.uploading_on = this.opts.nodeId;
      tx.put(FILES, fileId, r);
      return { record: r, config: this.opts.keys.getIn(tx, r.key_id) };
    }).result;
    try {
      await this.opts.blobs.writeVerified(fileId, source, { config, fileSize: record.file_size, sha256: record.sha256 });
      return this.opts.store.transact((tx) => {
        const r = this.mustGet(tx, fileId);
        r.state = 'available';
        tx.put(FILES, fileId, r);
        return r;
      }).result;
    } catch (err) {
      // Nothing half-written stays: the blob (if it was renamed into place before the store failed), then the record and key.
      await this.abandon(record);
      throw err;
    }
  }

  /** Removes a file whose content was not (fully) stored; failures are logged, so that the caller's own error is the one reported. */
  private async abandon(record: FileRecord) {
    try {
      await this.opts.blobs.remove(record.file_id);
      this.withRoom(() => this.opts.store.transact((tx) => this.removeIn(tx, record)));
    } catch (err) {
      this.opts.logger.error({ err, file_id: record.file_id }, 'a failed upload could not be cleaned up; it goes at the next start');
    }
    this.opts.blobs.ensureReserve();
  }

  /**
   * Runs a store write that frees space (a delete). On a full disk the store cannot even record that, so
   * the blob store's reserve is given up and the write tried once more; the reserve is taken again later.
   */
  private withRoom<T>(write: () => T): T {
    try {
      return write();
    } catch (err) {
      if (!(err instanceof TesseraError && err.code === 'insufficient_storage') || !this.opts.blobs.releaseReserve()) throw err;
      this.opts.logger.warn({ err: err.message }, 'the disk is full: gave up the reserve (blobs/.reserve) to record a delete');
      return write();
    }
  }

  /** TDFS Get: the file's info and key, for anyone check_permission allows. */
  info(fileId: string, user: string): { record: FileRecord; config: KeyConfig } {
    return this.opts.store.read((tx) => {
      const record = this.readable(tx, fileId, user);
      return { record, config: this.opts.keys.getIn(tx, record.key_id) };
    });
  }

  infoInternal(fileId: string): FileRecord {
    return this.opts.store.read((tx) => this.mustGet(tx, fileId));
  }

  /**
   * The ciphertext, for anyone who may read the file. It resolves once the blob store has produced the first
   * bytes (or the end), so a read that cannot even start (a shared store out of reach) fails here, as an
   * error the caller can still answer, rather than after a reply with a length and a type has begun.
   */
  async openContent(fileId: string, user: string, role = 'user'): Promise<{ record: FileRecord; stream: Readable }> {
    const record = this.opts.store.read((tx) => (role === 'service' ? this.mustGet(tx, fileId) : this.readable(tx, fileId, user)));
    if (record.state !== 'available') throw new TesseraError('conflict', `file ${fileId} has no content yet: its upload has not completed`);
    const stream = this.opts.blobs.openRead(fileId);
    await started(stream);
    return { record, stream };
  }

  /** The ids of the files `user` owns, oldest first. */
  list(user: string): string[] {
    return this.opts.store.read((tx) =>
      tx
        .list<boolean>(BY_OWNER, `${user}\u0000`)
        .map(([key]) => this.mustGet(tx, key.split('\u0000')[1]))
        .sort((a, b) => a.created_at.localeCompare(b.created_at))
        .map((r) => r.file_id),
    );
  }

  /** TDFS Delete, owner only: metadata, key and blob. Returns what was deleted. */
  async delete(fileId: string, user: string): Promise<{ record: FileRecord; config: KeyConfig }> {
    // Works on a full disk: that is how space is freed (withRoom).
    const deleted = this.withRoom(() =>
      this.opts.store.transact((tx) => {
        const record = this.mustGet(tx, fileId);
        if (record.user_id !== user) throw new TesseraError('permission_denied', `only the owner may delete file ${fileId}`);
        if (record.state === 'uploading') throw new TesseraError('conflict', `file ${fileId} is being uploaded; delete it afterwards`);
        const config = this.opts.keys.getIn(tx, record.key_id);
        this.removeIn(tx, record);
        return { record, config };
      }),
    ).result;
    await this.opts.blobs.remove(fileId);
    await this.removeV01Copy(fileId);
    this.opts.blobs.ensureReserve();
    return deleted;
  }

  /** For tasks: whether the file exists with content, and whether `user` may read it. */
  check(fileId: string, user: string): 'allowed' | 'denied' | 'missing' {
    const record = this.opts.store.read((tx) => tx.get<FileRecord>(FILES, fileId));
    if (!record || record.state !== 'available') return 'missing';
    return mayRead(record, user) ? 'allowed' : 'denied';
  }

  /** Decrypts a file for a function, in memory. */
  async readPlaintext(fileId: string): Promise<Buffer> {
    const { record, config } = this.opts.store.read((tx) => {
      const r = this.mustGet(tx, fileId);
      return { record: r, config: this.opts.keys.getIn(tx, r.key_id) };
    });
    if (record.state !== 'available') throw new TesseraError('conflict', `file ${fileId} has no content yet`);
    if (record.file_size > this.opts.maxFunctionInputBytes) {
      throw new TesseraError('too_large', `file ${fileId} is ${record.file_size} bytes; functions read at most ${this.opts.maxFunctionInputBytes} (files.max_function_input_bytes)`);
    }
    return decryptFile(config, await this.opts.blobs.read(fileId));
  }

  /** Encrypts and stores a function's output under a fresh key (the worker's TDFS internal Create + write). */
  async storeOutput(spec: OutputSpec, data: Buffer): Promise<string> {
    const { record, config } = this.createInternal({
      sha256: sha256Hex(data),
      file_size: data.length,
      user_id: spec.owner,
      task_id: spec.taskId,
      collaborator_list: spec.collaborators,
      allow_policy: spec.allowPolicy,
    });
    try {
      await this.opts.blobs.writeBuffer(record.file_id, encryptFile(config, data));
      this.opts.store.transact((tx) => tx.put(FILES, record.file_id, { ...record, state: 'available' }));
    } catch (err) {
      await this.abandon(record);
      throw err;
    }
    return record.file_id;
  }

  /** Removes files (e.g. outputs of a task that then failed). */
  async discard(fileIds: string[]): Promise<void> {
    for (const id of fileIds) {
      this.withRoom(() =>
        this.opts.store.transact((tx) => {
          const r = tx.get<FileRecord>(FILES, id);
          if (r) this.removeIn(tx, r);
        }),
      );
      await this.opts.blobs.remove(id);
      await this.removeV01Copy(id);
    }
    if (fileIds.length > 0) this.opts.blobs.ensureReserve();
  }

  /** Files created and never uploaded within files.pending_ttl_s are dropped, with their keys. */
  sweepPending(now = Date.now()): number {
    return this.opts.store.transact((tx) => {
      let n = 0;
      for (const [, r] of tx.list<FileRecord>(FILES)) {
        if (r.state === 'pending' && now - Date.parse(r.created_at) > (this.opts.pendingTtlMs ?? 3_600_000)) {
          this.removeIn(tx, r);
          const dropped = this.v01Path(r);
          if (dropped) rmSync(dropped, { force: true });
          n++;
        }
      }
      return n;
    }).result;
  }

  /** At start: uploads that never completed are dropped, with their keys and partial blobs. */
  sweepIncomplete(): number {
    // A shared (NATS) store sweeps asynchronously; its failure costs only leftover chunks, so it is logged.
    void Promise.resolve(this.opts.blobs.sweepIncoming()).catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'could not sweep incomplete blobs'));
    return this.opts.store.transact((tx) => {
      let n = 0;
      for (const [, r] of tx.list<FileRecord>(FILES)) {
        // Another node of the cluster may be taking it in now (an upload from before uploading_on is ours).
        if (r.state === 'uploading' && (r.uploading_on === undefined || r.uploading_on === this.opts.nodeId)) {
          this.removeIn(tx, r);
          n++;
        }
      }
      return n;
    }).result;
  }

  /** The MesaTEE access_path of a file. */
  accessPath(fileId: string): string {
    return this.opts.accessPath(fileId);
  }

  /** Whether wire.mesatee_v01_file_dir is set. */
  get v01Mode(): boolean {
    return this.opts.v01FileDir !== undefined;
  }

  /** The access_path TDFS Create returns over the wire: `<dir>/<file_id>` in the v0.1 mode, else the https URL. */
  wireCreateAccessPath(record: FileRecord): string {
    return this.v01Path(record) ?? this.opts.accessPath(record.file_id);
  }

  /**
   * The access_path TDFS Get returns over the wire. In the v0.1 mode a v0.1 client reads the ciphertext
   * from that path itself, so a file with content is first copied there (see v01-export.ts), and a v0.1
   * upload still awaited keeps the path it is to be written to. Otherwise, the https URL.
   */
  async wireGetAccessPath(record: FileRecord): Promise<string> {
    const dir = this.opts.v01FileDir;
    if (dir === undefined) return this.opts.accessPath(record.file_id);
    if (record.state !== 'available') return this.v01Path(record) ?? this.opts.accessPath(record.file_id);
    return exportCiphertext(dir, record.file_id, this.opts.blobs.openRead(record.file_id));
  }

  private async removeV01Copy(fileId: string) {
    if (this.opts.v01FileDir !== undefined) await removeExport(this.opts.v01FileDir, fileId);
  }

  private v01Path(record: FileRecord): string | undefined {
    if (!record.v01_upload || this.opts.v01FileDir === undefined || !/^[0-9a-f-]{36}$/.test(record.file_id)) return undefined;
    return join(this.opts.v01FileDir, record.file_id);
  }

  private readonly pickups = new Map<string, Promise<void>>();

  /**
   * The v0.1 compatibility mode: takes in the ciphertext a v0.1 client wrote to its file's access_path
   * (`<wire.mesatee_v01_file_dir>/<file_id>`), for the files among `fileIds` that `caller` owns, were
   * created over the wire in this mode and await their content. The bytes go through the same
   * verification as an HTTPS upload (upload()): on success they move into the blob store; on failure
   * the file and its key are removed, with the upload's error. Either way the client's file is deleted.
   * A file not written yet is left pending; anything but a regular file (a symlink, a FIFO, a
   * directory) is refused.
   */
  async pickUp(fileIds: readonly string[], caller: string): Promise<void> {
    if (this.opts.v01FileDir === undefined) return;
    for (const fileId of fileIds) {
      const record = this.opts.store.read((tx) => tx.get<FileRecord>(FILES, fileId));
      if (!record || record.state === 'available' || !record.v01_upload) continue;
      if (record.uploader.kind !== 'user' || record.uploader.name !== caller) continue;
      let pending = this.pickups.get(fileId);
      if (!pending) {
        pending = this.pickUpOne(record).finally(() => this.pickups.delete(fileId));
        this.pickups.set(fileId, pending);
      }
      await pending;
    }
  }

  private async pickUpOne(record: FileRecord): Promise<void> {
    const path = this.v01Path(record);
    if (!path || record.state !== 'pending' || record.uploader.kind !== 'user') return;
    let handle;
    try {
      // O_NOFOLLOW: a symlink is refused (ELOOP), not followed; O_NONBLOCK: a FIFO does not hang the open.
      handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return; // not written yet: the file stays pending
      await unlink(path).catch(() => {});
      await this.abandon(record);
      if (code === 'ELOOP') throw new TesseraError('invalid_input', `${path} is a symbolic link, not a regular file; file ${record.file_id} was refused and nothing was stored`);
      throw new TesseraError('invalid_input', `${path} could not be opened (${code ?? (err as Error).message}); file ${record.file_id} was refused and nothing was stored`);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) {
        await handle.close();
        handle = undefined;
        await this.abandon(record);
        throw new TesseraError('invalid_input', `${path} is not a regular file; file ${record.file_id} was refused and nothing was stored`);
      }
      const stream = handle.createReadStream({ highWaterMark: 1024 * 1024, autoClose: true });
      handle = undefined;
      await this.upload(record.file_id, { name: record.uploader.name, role: 'user' }, stream);
      this.opts.logger.info({ file_id: record.file_id }, 'took in a v0.1 client\'s ciphertext from wire.mesatee_v01_file_dir');
    } finally {
      await handle?.close().catch(() => {});
      // Accepted or refused, the client's copy goes (unlink removes a link, never what it points to).
      await unlink(path).catch(() => {});
    }
  }

  /** Ciphertext length of a file: plaintext plus the tag. */
  static ciphertextLength(record: FileRecord): number {
    return record.file_size + TAG_BYTES;
  }

  private removeIn(tx: Tx, record: FileRecord) {
    tx.delete(FILES, record.file_id);
    tx.delete(BY_OWNER, `${record.user_id}\u0000${record.file_id}`);
    this.opts.keys.discardIn(tx, record.key_id);
  }

  private mustGet(tx: ReadTx, fileId: string): FileRecord {
    const record = tx.get<FileRecord>(FILES, fileId);
    if (!record) throw new TesseraError('not_found', `no file ${fileId}`);
    return record;
  }

  private readable(tx: ReadTx, fileId: string, user: string): FileRecord {
    const record = this.mustGet(tx, fileId);
    if (!mayRead(record, user)) throw new TesseraError('permission_denied', `'${user}' may not read file ${fileId}`);
    return record;
  }
}

/** Resolves when `stream` has bytes to read or has ended; rejects with its error if it fails first. */
function started(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      stream.off('readable', onReady);
      stream.off('error', settle);
      // Until the caller pipes it (its pipe listens then), a later error must not go unheard and end the process.
      stream.on('error', () => {});
      if (err) reject(err);
      else resolve();
    };
    // Without a 'readable' listener left, the stream goes back to its initial mode, so the caller can pipe it.
    const onReady = () => settle();
    stream.once('readable', onReady);
    stream.once('error', settle);
  });
}
