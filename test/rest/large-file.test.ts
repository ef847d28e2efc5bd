import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';

const SIZE = 1024 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const RSS_LIMIT = 200 * 1024 * 1024;

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.log.level = 'warn') });
});
after(() => node.cleanup());

/** 1 GiB of deterministic content, made chunk by chunk so the test never holds it. */
const base = randomBytes(CHUNK);
function* content() {
  for (let i = 0; i < SIZE / CHUNK; i++) {
    const chunk = Buffer.from(base);
    chunk.writeUInt32BE(i, 0);
    yield chunk;
  }
}

const peakRss = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

test('a 1 GiB file uploads and downloads through the node in bounded memory', { timeout: 600_000 }, async (t) => {
  const alice = node.identity('alice');
  const hash = createHash('sha256');
  for (const chunk of content()) hash.update(chunk);
  const sha256 = hash.digest('hex');

  const created = await https(`https://127.0.0.1:${node.ports.https}/v1/files`, { ...alice, ca: node.ca }, { method: 'POST', json: { file_name: 'big.bin', sha256, file_size: SIZE } });
  assert.equal(created.status, 201, created.body.toString());
  const { file_id, access_path, key_config } = created.json();
  const key = Buffer.from(key_config.key, 'base64');
  const nonce = Buffer.from(key_config.nonce, 'base64');
  const ad = Buffer.from(key_config.ad, 'base64');
  const url = new URL(access_path);
  const options = { host: url.hostname, port: url.port, path: url.pathname, cert: alice.cert, key: alice.key, ca: node.ca, servername: 'localhost' };

  const started = Date.now();
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(ad);
  const withTag = new Transform({
    transform: (chunk, _e, done) => done(null, chunk),
    flush(done) {
      this.push(cipher.getAuthTag());
      done();
    },
  });
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ ...options, method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': SIZE + 16, authorization: `Bearer ${alice.token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    pipeline(Readable.from(content()), cipher, withTag, req).catch(reject);
  });
  assert.equal(status, 200);
  const uploadSeconds = (Date.now() - started) / 1000;

  const downloadStarted = Date.now();
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(ad);
  const check = createHash('sha256');
  let tail = Buffer.alloc(0);
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    const req = request({ ...options, method: 'GET', headers: { authorization: `Bearer ${alice.token}` } }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.equal(Number(res.headers['content-length']), SIZE + 16);
      pipeline(
        res,
        new Writable({
          write(chunk: Buffer, _e, done) {
            received += chunk.length;
            const joined = Buffer.concat([tail, chunk]);
            const body = Math.max(0, joined.length - 16);
            check.update(decipher.update(joined.subarray(0, body)));
            tail = Buffer.from(joined.subarray(body));
            done();
          },
        }),
      ).then(resolve, reject);
    });
    req.on('error', reject);
    req.end();
  });
  decipher.setAuthTag(tail);
  check.update(decipher.final());
  const downloadSeconds = (Date.now() - downloadStarted) / 1000;
  assert.equal(received, SIZE + 16);
  assert.equal(check.digest('hex'), sha256, 'the downloaded file decrypts to what was uploaded');

  const rss = peakRss(node.proc.pid!);
  t.diagnostic(`node peak RSS ${(rss / 1048576).toFixed(1)} MiB; upload ${uploadSeconds.toFixed(1)} s (${(1024 / uploadSeconds).toFixed(0)} MiB/s), download ${downloadSeconds.toFixed(1)} s (${(1024 / downloadSeconds).toFixed(0)} MiB/s)`);
  assert.ok(rss < RSS_LIMIT, `the node peaked at ${(rss / 1048576).toFixed(1)} MiB resident, over 200 MiB`);
});
