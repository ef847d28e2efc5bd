import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { content, roundTrip } from '../helpers/large-file.js';
import { peakRss } from '../helpers/proc.js';

const SIZE = 1024 * 1024 * 1024;
const RSS_LIMIT = 200 * 1024 * 1024;

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.log.level = 'warn') });
});
after(() => node.cleanup());

test('a 1 GiB file uploads and downloads through the node in bounded memory', { timeout: 600_000 }, async (t) => {
  const r = await roundTrip(node, 'alice', SIZE, content(SIZE));
  assert.equal(r.uploadStatus, 200);
  assert.equal(r.received, SIZE + 16);
  assert.ok(r.matches, 'the downloaded file decrypts to what was uploaded');
  const rss = peakRss(node.proc.pid!);
  t.diagnostic(`node peak RSS ${(rss / 1048576).toFixed(1)} MiB; upload ${r.uploadSeconds.toFixed(1)} s (${(1024 / r.uploadSeconds).toFixed(0)} MiB/s), download ${r.downloadSeconds.toFixed(1)} s (${(1024 / r.downloadSeconds).toFixed(0)} MiB/s)`);
  assert.ok(rss < RSS_LIMIT, `the node peaked at ${(rss / 1048576).toFixed(1)} MiB resident, over 200 MiB`);
});
