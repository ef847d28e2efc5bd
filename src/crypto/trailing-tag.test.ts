import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { TrailingTag } from './trailing-tag.js';

test('however the stream is cut, the body is every byte but the last 16, in order, and the tag is the last 16', () => {
  for (let trial = 0; trial < 200; trial++) {
    const data = randomBytes(randomInt(0, 300));
    const body: Buffer[] = [];
    const split = new TrailingTag((b) => body.push(Buffer.from(b)));
    for (let at = 0; at < data.length; ) {
      const n = randomInt(1, 40);
      split.push(data.subarray(at, at + n));
      at += n;
    }
    const cut = Math.max(0, data.length - 16);
    assert.deepEqual(Buffer.concat(body), data.subarray(0, cut), `trial ${trial}`);
    assert.deepEqual(split.tag, data.subarray(cut));
  }
});
