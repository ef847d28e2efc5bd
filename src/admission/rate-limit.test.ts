import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InFlightLimit } from './in-flight.js';
import { RateLimiter } from './rate-limit.js';

test('a caller gets its burst, then one request per 1/rate seconds; others are not slowed', () => {
  let now = 0;
  const limiter = new RateLimiter(2, 3, () => now);
  for (let i = 0; i < 3; i++) limiter.take('alice');
  assert.throws(() => limiter.take('alice'), (err: any) => err.code === 'rate_limited' && err.retryAfterSeconds === 1 && /2 requests a second/.test(err.message));
  limiter.take('bob');
  now += 500;
  limiter.take('alice');
  assert.throws(() => limiter.take('alice'));
  now += 10_000;
  for (let i = 0; i < 3; i++) limiter.take('alice');
  assert.throws(() => limiter.take('alice'), 'the bucket refills to the burst, not beyond');
});

test('a rate of 0 means no limit', () => {
  const limiter = new RateLimiter(0, 1);
  for (let i = 0; i < 1000; i++) limiter.take('alice');
});

test('the in-flight limit refuses past its bound, and a request lets go only once', () => {
  const limit = new InFlightLimit(2);
  const a = limit.enter();
  limit.enter();
  assert.throws(() => limit.enter(), (err: any) => err.code === 'unavailable' && err.retryAfterSeconds === 1);
  a();
  a();
  assert.equal(limit.inFlight, 1);
  limit.enter();
  assert.throws(() => limit.enter());
});
