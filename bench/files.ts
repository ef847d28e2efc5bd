// Files benchmark: a 256 MiB upload and download through a real node (client-side AES-256-GCM, mTLS,
// the node's streaming verification, fsync, and the way back), against raw node:crypto AES-256-GCM
// encrypting then decrypting the same bytes in this process, alternating rounds.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { startNode } from '../test/helpers/cli.js';
import { content, roundTrip } from '../test/helpers/large-file.js';
import { peakRss } from '../test/helpers/proc.js';
import { median } from './stats.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_FILE_MIB ?? 256) * MiB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const chunks = content(SIZE);

function rawAes(): { encrypt: number; decrypt: number } {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  let t = performance.now();
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const sealed: Buffer[] = [];
  for (const c of chunks()) sealed.push(cipher.update(c));
  cipher.final();
  const tag = cipher.getAuthTag();
  const encrypt = (performance.now() - t) / 1000;
  t = performance.now();
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAuthTag(tag);
  for (const c of sealed) decipher.update(c);
  decipher.final();
  return { encrypt, decrypt: (performance.now() - t) / 1000 };
}

const node = await startNode({ users: ['alice'], config: (c) => (c.log.level = 'warn') });
try {
  const up: number[] = [];
  const down: number[] = [];
  const enc: number[] = [];
  const dec: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const raw = rawAes();
    enc.push(SIZE / MiB / raw.encrypt);
    dec.push(SIZE / MiB / raw.decrypt);
    const t = await roundTrip(node, 'alice', SIZE, chunks);
    if (t.uploadStatus !== 200 || !t.matches) throw new Error('the round trip did not give back the file');
    up.push(SIZE / MiB / t.uploadSeconds);
    down.push(SIZE / MiB / t.downloadSeconds);
    process.stderr.write(`  files round ${r + 1}/${ROUNDS}: upload ${up[r].toFixed(0)} MiB/s, download ${down[r].toFixed(0)} MiB/s, raw AES-GCM ${enc[r].toFixed(0)} / ${dec[r].toFixed(0)} MiB/s\n`);
  }
  const spread = (xs: number[]) => ({ median: Math.round(median(xs)), min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)) });
  console.log(
    JSON.stringify(
      {
        benchmark: `file upload and download, ${SIZE / MiB} MiB`,
        rounds: ROUNDS,
        upload_mib_s: spread(up),
        download_mib_s: spread(down),
        raw_aes_gcm_encrypt_mib_s: spread(enc),
        raw_aes_gcm_decrypt_mib_s: spread(dec),
        upload_ratio: Number((median(up) / median(enc)).toFixed(3)),
        download_ratio: Number((median(down) / median(dec)).toFixed(3)),
        node_peak_rss_mib: Number((peakRss(node.proc.pid!) / MiB).toFixed(1)),
      },
      null,
      2,
    ),
  );
} finally {
  await node.stop(); // gracefully, so that TESSERA_NODE_ARGS=--cpu-prof can write its profile
  await node.cleanup();
}
