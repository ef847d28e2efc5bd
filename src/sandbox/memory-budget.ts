import { TesseraError } from '../errors/index.js';

/**
 * One node-wide budget for the memory every isolate together may reach (sandbox.memory_budget_mib).
 * Each isolate reserves what its limits let it reach (its heap, and its WebAssembly allowance) for as long
 * as it lives; one that would go over waits up to `waitMs` for others to go, then gets a clear 503 naming
 * the budget. So tenants may each choose limits within the operator's maxima, and all of them at once
 * still fit the machine.
 */
export class MemoryBudget {
  private reservedMiB = 0;
  private readonly waiting: Array<{ mib: number; resolve: () => void }> = [];

  constructor(
    readonly totalMiB: number,
    private readonly waitMs = 2000,
  ) {}

  get reserved(): number {
    return this.reservedMiB;
  }

  private fits(mib: number): boolean {
    return this.totalMiB <= 0 || this.reservedMiB + mib <= this.totalMiB;
  }

  private refused(mib: number, what: string): TesseraError {
    return new TesseraError('unavailable', `${what} needs ${mib} MiB of sandbox memory, and the node's budget (sandbox.memory_budget_mib = ${this.totalMiB}) has ${Math.max(0, this.totalMiB - this.reservedMiB)} MiB left; try again later, or ask the operator for a larger budget`, { retryAfterSeconds: 1 });
  }

  /** Reserves at once or throws `unavailable`. Returns the release function (safe to call twice). */
  reserveNow(mib: number, what: string): () => void {
    if (!this.fits(mib)) throw this.refused(mib, what);
    return this.take(mib);
  }

  /** Reserves, waiting up to `waitMs` for room. */
  async reserve(mib: number, what: string): Promise<() => void> {
    if (this.fits(mib) && this.waiting.length === 0) return this.take(mib);
    if (this.totalMiB > 0 && mib > this.totalMiB) throw this.refused(mib, what);
    let entry!: { mib: number; resolve: () => void };
    const granted = new Promise<void>((resolve) => this.waiting.push((entry = { mib, resolve })));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.waitMs)));
    const outcome = await Promise.race([granted, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      const i = this.waiting.indexOf(entry);
      if (i >= 0) {
        this.waiting.splice(i, 1);
        throw this.refused(mib, what);
      }
    }
    return this.makeRelease(mib);
  }

  private take(mib: number): () => void {
    this.reservedMiB += mib;
    return this.makeRelease(mib);
  }

  private makeRelease(mib: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reservedMiB -= mib;
      // Wake waiters in order while they fit.
      while (this.waiting.length > 0 && this.fits(this.waiting[0].mib)) {
        const next = this.waiting.shift()!;
        this.reservedMiB += next.mib;
        next.resolve();
      }
    };
  }
}

/** A budget with no limit, for engines used outside a node (tests, benchmarks). */
export const UNLIMITED = new MemoryBudget(0);
