import { TesseraError } from '../errors/index.js';

/**
 * A bound on the requests a listener handles at once. Past it, a request is refused at once with 503
 * and a retry-after, instead of joining a queue that grows without bound and times everyone out.
 */
export class InFlightLimit {
  private current = 0;

  constructor(
    private readonly max: number,
    /** The setting that sets `max`, for the refusal's message. */
    private readonly setting = 'limits.max_requests_in_flight',
  ) {}

  /** Admits one request, or throws `unavailable`; the returned function lets it go (once, however often called). */
  enter(): () => void {
    if (this.current >= this.max) {
      throw new TesseraError('unavailable', `the node is handling its limit of ${this.max} requests (${this.setting}); retry after 1 s`, { retryAfterSeconds: 1 });
    }
    this.current++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.current--;
    };
  }

  get inFlight(): number {
    return this.current;
  }

  get limit(): number {
    return this.max;
  }
}
