import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { content, roundTrip } from '../helpers/large-file.js';
import { peakRss, procStatusBytes } from '../helpers/proc.js';

const SIZE = 1024 * 1024 * 1024;
/**
 * What a 1 GiB round trip may add to the node's resident memory: an eighth of the file. The bound is
 * relative to the node's own resident size once started, which depends on the Node.js line (Node 24's
 * binary alone maps ~54 MiB, and an idle node is ~130 MiB) and not on how Tessera moves the file.
 */
const RSS_GROWTH_LIMIT = 128 * 1024 * 1024;

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.log.level = 'warn') });
});
after(() => node.cleanup());

test('a 1 GiB file uploads and downloads through the node in bounded memory', { timeout: 600_000 }, async (t) => {
  const idle = procStatusBytes(node.proc.pid!, 'VmHWM');
  const r = await roundTrip(node, 'alice', SIZE, content(SIZE));
  assert.equal(r.uploadStatus, 200);
  assert.equal(r.received, SIZE + 16);
  assert.ok(r.matches, 'the downloaded file decrypts to what was uploaded');
  const rss = peakRss(node.proc.pid!);
  t.diagnostic(`node peak RSS ${(rss / 1048576).toFixed(1)} MiB (${(idle / 1048576).toFixed(1)} MiB before the transfer); upload ${r.uploadSeconds.toFixed(1)} s (${(1024 / r.uploadSeconds).toFixed(0)} MiB/s), download ${r.downloadSeconds.toFixed(1)} s (${(1024 / r.downloadSeconds).toFixed(0)} MiB/s)`);
  assert.ok(rss - idle < RSS_GROWTH_LIMIT, `the transfer took the node from ${(idle / 1048576).toFixed(1)} to ${(rss / 1048576).toFixed(1)} MiB resident, more than 128 MiB for a 1 GiB file`);
});
