import { TesseraError } from '../errors/index.js';

/**
 * Per-caller token buckets: each caller may make `perSecond` requests a second on average, and up to
 * `burst` at once. A caller over its limit is refused with how long to wait; nobody else is slowed.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** Takes one request from `caller`'s bucket, or throws `rate_limited` with the seconds until the next. */
  take(caller: string): void {
    if (!this.enabled) return;
    const now = this.now();
    let bucket = this.buckets.get(caller);
    if (!bucket) this.buckets.set(caller, (bucket = { tokens: this.burst, at: now }));
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const wait = Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond));
    throw new TesseraError(
      'rate_limited',
      `'${caller}' is over the limit of ${this.perSecond} requests a second (bursts of ${this.burst}; limits.user_requests_per_second); retry after ${wait} s`,
      { retryAfterSeconds: wait },
    );
  }
}
