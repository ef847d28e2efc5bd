/**
 * A counting semaphore: at most `size` workflow events run at once, so a burst of heavy instances uses
 * that many isolate threads and no more. A call into another instance runs on its caller's slot (the
 * caller's thread is blocked waiting for it), so calls never wait for a slot and cannot deadlock on them.
 */
export class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    this.free = Math.max(1, size);
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }

  /** Isolate threads running an event now. */
  get inUse(): number {
    return Math.max(1, this.size) - this.free;
  }

  /** Events waiting for a thread. */
  get waitingCount(): number {
    return this.waiting.length;
  }
}

/** One instance's turn: calls go before casts, since a caller waits on its thread for the call. */
export class Turn {
  private held = false;
  private readonly calls: Array<() => void> = [];
  private readonly casts: Array<() => void> = [];

  get busy(): boolean {
    return this.held;
  }

  async take(kind: 'call' | 'cast'): Promise<() => void> {
    if (this.held) await new Promise<void>((resolve) => (kind === 'call' ? this.calls : this.casts).push(resolve));
    else this.held = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.calls.shift() ?? this.casts.shift();
      if (next) next();
      else this.held = false;
    };
  }
}
