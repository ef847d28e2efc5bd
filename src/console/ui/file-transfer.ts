import { GcmDecryptor, GcmEncryptor, type KeyConfig, sha256Hasher } from '../lib/file-crypto.js';
import { ApiError, errorOf, headers, json, pathOf, request } from './api.js';
import { type ProgressState, formatBytes } from './components.js';

// Files leave the browser encrypted and come back decrypted here: AES-256-GCM under the key config the node
// gives at registration (as every MesaTEE client does), in chunks, so a large file never needs its whole
// plaintext and ciphertext in script memory at once. The node never receives plaintext.

export interface FileInfo {
  user_id: string;
  file_name: string;
  sha256: string;
  file_size: number;
  access_path: string;
  task_id: string | null;
  collaborator_list: string[];
  key_config: KeyConfig;
}

/**
 * Collects chunks into a Blob without keeping them all in script memory: every BLOB_SLICE bytes the chunks
 * so far become a Blob of their own, which the browser may keep on disk, and their buffers are let go.
 */
const BLOB_SLICE = 16 * 1024 * 1024;
class BlobBuilder {
  private slices: Blob[] = [];
  private parts: Uint8Array[] = [];
  private pending = 0;
  add(chunk: Uint8Array) {
    this.parts.push(chunk);
    this.pending += chunk.length;
    if (this.pending >= BLOB_SLICE) this.flush();
  }
  private flush() {
    if (this.parts.length) this.slices.push(new Blob(this.parts as BlobPart[]));
    this.parts = [];
    this.pending = 0;
  }
  blob(): Blob {
    this.flush();
    return new Blob(this.slices);
  }
}

async function eachChunk(file: Blob, onChunk: (chunk: Uint8Array) => Promise<void> | void, signal?: AbortSignal) {
  const reader = file.stream().getReader();
  for (;;) {
    if (signal?.aborted) throw new DOMException('cancelled', 'AbortError');
    const { done, value } = await reader.read();
    if (done) return;
    await onChunk(value);
  }
}

/** PUT with progress: fetch cannot report upload progress, and cannot stream a request body over HTTP/1.1. */
function put(path: string, body: Blob, onProgress: (sent: number) => void, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', path);
    for (const [k, v] of Object.entries(headers({ 'content-type': 'application/octet-stream' }))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(JSON.parse(xhr.responseText || 'null'));
      reject(await errorOf(new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText })));
    };
    xhr.onerror = () => reject(new ApiError('the connection to the node was lost during the upload', 0, 'Unreachable'));
    xhr.onabort = () => reject(new DOMException('cancelled', 'AbortError'));
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

/**
 * Registers, encrypts and uploads a file. On any failure after registration the half-made file is deleted
 * (when the node is still there to ask), so nothing is left behind, and the error says what happened.
 */
export async function uploadFile(file: File, onProgress: (p: ProgressState) => void, signal: AbortSignal): Promise<string> {
  const startedAt = performance.now();
  const total = file.size;
  const hasher = sha256Hasher();
  let done = 0;
  await eachChunk(
    file,
    (chunk) => {
      hasher.update(chunk);
      done += chunk.length;
      onProgress({ stage: 'hashing', done, total, startedAt });
    },
    signal,
  );
  const created = await json<{ file_id: string; access_path: string; key_config: KeyConfig }>('POST', '/v1/files', { file_name: file.name.slice(0, 255), sha256: hasher.hex(), file_size: total });
  try {
    const enc = await GcmEncryptor.create(created.key_config);
    const parts = new BlobBuilder();
    done = 0;
    const encStart = performance.now();
    await eachChunk(
      file,
      async (chunk) => {
        parts.add(await enc.update(chunk));
        done += chunk.length;
        onProgress({ stage: 'encrypting', done, total, startedAt: encStart });
      },
      signal,
    );
    parts.add(await enc.final());
    const upStart = performance.now();
    let sent = 0;
    const onSent = (n: number) => {
      sent = Math.min(n, total);
      onProgress({ stage: 'uploading', done: sent, total, startedAt: upStart });
    };
    await put(pathOf(created.access_path), parts.blob(), onSent, signal).catch((err: Error) => {
      if (err.name === 'AbortError') throw err;
      const e = err as ApiError;
      throw new ApiError(`the upload stopped after ${formatBytes(sent)} of ${formatBytes(total)}: ${e.message}`, e.status ?? 0, e.code ?? 'UploadFailed');
    });
    onProgress({ stage: 'done', done: total, total, startedAt });
    return created.file_id;
  } catch (err) {
    const cleanup = await json('DELETE', `/v1/files/${encodeURIComponent(created.file_id)}`).then(
      () => 'The registration was deleted: nothing is stored.',
      () => `The node could not be asked to delete the registration of ${created.file_id}; it holds no content, and can be deleted from the Files view once the node is back.`,
    );
    if ((err as Error).name === 'AbortError') throw new Error(`Upload cancelled. ${cleanup}`);
    throw new ApiError(`${(err as Error).message}. ${cleanup}`, (err as ApiError).status ?? 0, (err as ApiError).code ?? 'UploadFailed');
  }
}

/** Downloads and decrypts a file; nothing is handed out until the tag (and the plaintext's SHA-256) verify. */
export async function downloadFile(fileId: string, onProgress?: (p: ProgressState) => void): Promise<{ info: FileInfo; plaintext: Blob }> {
  const info = await json<FileInfo>('GET', `/v1/files/${encodeURIComponent(fileId)}`);
  const res = await request('GET', pathOf(info.access_path));
  const dec = await GcmDecryptor.create(info.key_config);
  const hasher = sha256Hasher();
  const parts = new BlobBuilder();
  const startedAt = performance.now();
  let done = 0;
  const reader = res.body!.getReader();
  for (;;) {
    const { done: end, value } = await reader.read();
    if (end) break;
    const plain = await dec.update(value);
    hasher.update(plain);
    parts.add(plain);
    done += value.length;
    onProgress?.({ stage: 'downloading', done: Math.min(done, info.file_size), total: info.file_size, startedAt });
  }
  const last = await dec.final();
  hasher.update(last);
  parts.add(last);
  if (hasher.hex() !== info.sha256) throw new Error(`the decrypted file's SHA-256 is ${hasher.hex()}, not the ${info.sha256} it was registered with`);
  return { info, plaintext: parts.blob() };
}

/** Offers a Blob as a file to save. */
export function saveBlob(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The first bytes of a plaintext as hex and, where printable, as text. */
export async function preview(blob: Blob, max = 256): Promise<{ hex: string; text: string | null; bytes: number[] }> {
  const bytes = new Uint8Array(await blob.slice(0, max).arrayBuffer());
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  const printable = /^[\t\n\r\x20-\x7e\u00a0-\uffff]*$/.test(text) && !text.includes('\ufffd');
  return { hex, text: printable ? text : null, bytes: [...bytes] };
}
