// Streams a large file through a node's TDFS the way a client does (encrypt while uploading, decrypt
// while downloading) without ever holding it; shared by the large-file test and the files benchmark.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TrailingTag } from '../../src/crypto/trailing-tag.js';
import type { TestNode } from './cli.js';
import { https } from './https-client.js';

export const CHUNK = 1024 * 1024;

/** `size` bytes of deterministic content, made chunk by chunk. */
export function content(size: number, base = randomBytes(CHUNK)): () => Generator<Buffer> {
  return function* () {
    for (let i = 0; i < size / CHUNK; i++) {
      const chunk = Buffer.from(base);
      chunk.writeUInt32BE(i, 0);
      yield chunk;
    }
  };
}

export interface Transfer {
  uploadStatus: number;
  uploadSeconds: number;
  downloadSeconds: number;
  received: number;
  matches: boolean;
}

export async function roundTrip(node: TestNode, user: string, size: number, chunks: () => Generator<Buffer>): Promise<Transfer> {
  const id = node.identity(user);
  const hash = createHash('sha256');
  for (const chunk of chunks()) hash.update(chunk);
  const sha256 = hash.digest('hex');
  const created = await https(`https://127.0.0.1:${node.ports.https}/v1/files`, { ...id, ca: node.ca }, { method: 'POST', json: { file_name: 'big.bin', sha256, file_size: size } });
  if (created.status !== 201) throw new Error(`file create: ${created.status} ${created.body.toString()}`);
  const { access_path, key_config } = created.json();
  const key = Buffer.from(key_config.key, 'base64');
  const nonce = Buffer.from(key_config.nonce, 'base64');
  const ad = Buffer.from(key_config.ad, 'base64');
  const url = new URL(access_path);
  const options = { host: url.hostname, port: url.port, path: url.pathname, cert: id.cert, key: id.key, ca: node.ca, servername: 'localhost' };

  const started = performance.now();
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(ad);
  const withTag = new Transform({
    transform: (chunk, _e, done) => done(null, chunk),
    flush(done) {
      this.push(cipher.getAuthTag());
      done();
    },
  });
  const uploadStatus = await new Promise<number>((resolve, reject) => {
    const req = request({ ...options, method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': size + 16, authorization: `Bearer ${id.token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    pipeline(Readable.from(chunks()), cipher, withTag, req).catch(reject);
  });
  const uploadSeconds = (performance.now() - started) / 1000;

  const downloadStarted = performance.now();
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(ad);
  const check = createHash('sha256');
  const split = new TrailingTag((body) => check.update(decipher.update(body)));
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    const req = request({ ...options, method: 'GET', headers: { authorization: `Bearer ${id.token}` } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`download: ${res.statusCode}`));
      pipeline(
        res,
        new Writable({
          write(chunk: Buffer, _e, done) {
            received += chunk.length;
            split.push(chunk);
            done();
          },
        }),
      ).then(resolve, reject);
    });
    req.on('error', reject);
    req.end();
  });
  decipher.setAuthTag(split.tag);
  check.update(decipher.final());
  return { uploadStatus, uploadSeconds, downloadSeconds: (performance.now() - downloadStarted) / 1000, received, matches: check.digest('hex') === sha256 };
}
