import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import { AckPolicy, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { seal, unseal } from '../crypto/aead.js';
import { TesseraError } from '../errors/index.js';

// Work that any node of a cluster may run (task invocations, detached Fn calls), carried by NATS JetStream
// with acknowledgements and redelivery (DESIGN.md, "Beyond one machine").
//
// - One stream per service (TESSERA_WORK_<prefix>, workqueue retention: a message is gone once acknowledged)
//   and one durable pull consumer that every worker node pulls from, so each message goes to one node at a
//   time.
// - A node acknowledges a message only once what it did is committed in the Store. While it works it tells
//   the server so (`working()`, every third of ack_wait); a node that dies stops doing that, and the server
//   hands the message to another node once ack_wait has passed. Work is therefore at-least-once; the
//   handlers make its effects exactly-once with compare-and-set in the Store, fenced by the delivery count.
// - Bodies are sealed (AES-256-GCM, a key derived from the master key, the subject as AAD): the NATS server
//   and its files see which kind of work for which id, never a payload.

export interface Delivery {
  /** 1 for the first delivery, then one more for each redelivery. */
  count: number;
}

/**
 * Thrown by a handler for work another node is to run (a workflow event whose workflow runs elsewhere): the
 * message goes back at once, for the next node that pulls, without a warning.
 */
export class WorkElsewhere extends Error {
  /** When to offer it again: at once for another node (50 ms), or later for work not yet due (a delayed cast). */
  constructor(readonly retryInMs = 50) {
    super('work for another node, or for later');
  }
}

/** Runs one message's work; resolving acknowledges it, throwing hands it back for a later redelivery. */
export type WorkHandler = (id: string, body: Buffer, delivery: Delivery) => Promise<void>;

export interface WorkQueueOptions {
  nc: NatsConnection;
  /** The service's name part (servicePrefix(store.schema)): subjects and the stream are its own. */
  prefix: string;
  /**
   * Which of the service's queues: 'work' (tasks, calls, events), or 'delay' (delayed casts, which wait in
   * the queue until due and so must not take the room of work that is due now). Default 'work'.
   */
  lane?: 'work' | 'delay';
  /** Deliveries out at once, across nodes, before the server stops handing out more. Default 10,000. */
  maxPending?: number;
  /** Seals bodies; derived from the master key. */
  key: Buffer;
  replicas: number;
  /** How long a delivery may go without news from its node before another node gets it. */
  ackWaitMs: number;
  /** Bound on every JetStream request. */
  timeoutMs: number;
  logger: Logger;
}

const ID = /^[A-Za-z0-9_-]{1,100}$/;
const streamName = (opts: Pick<WorkQueueOptions, 'lane' | 'prefix'>) => `TESSERA_${(opts.lane ?? 'work').toUpperCase()}_${opts.prefix}`;
const KIND = /^[a-z]{1,20}$/;

export class WorkQueue {
  readonly stream: string;
  readonly lane: 'work' | 'delay';
  private readonly handlers = new Map<string, WorkHandler>();
  private consumer: Consumer | null = null;
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  readonly stats = { handled: 0, redelivered: 0, failed: 0 };

  private constructor(
    private readonly opts: WorkQueueOptions,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {
    this.lane = opts.lane ?? 'work';
    this.stream = streamName(opts);
  }

  /** Opens (creating if needed) the service's stream and its workers' consumer. */
  static async open(opts: WorkQueueOptions): Promise<WorkQueue> {
    try {
      const js = jetstream(opts.nc, { timeout: opts.timeoutMs });
      const jsm = await jetstreamManager(opts.nc, { timeout: opts.timeoutMs });
      const queue = new WorkQueue(opts, js, jsm);
      const config = {
        name: queue.stream,
        subjects: [`tessera.${opts.prefix}.${queue.lane}.>`],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        num_replicas: opts.replicas,
        // A re-publish of the same work (same message id) within this window is dropped by the server.
        duplicate_window: nanos(120_000),
      };
      // Made by another node already (with the same settings, or ones an operator tuned): used as it is.
      const madeAlready = (err: Error) => {
        if (!/already in use|exists/i.test(err.message)) throw err;
      };
      await jsm.streams.add(config).catch(madeAlready);
      await jsm.consumers
        .add(queue.stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit, ack_wait: nanos(opts.ackWaitMs), max_deliver: -1, max_ack_pending: opts.maxPending ?? 10_000 })
        .catch(madeAlready);
      return queue;
    } catch (err) {
      throw new TesseraError('unavailable', `the work queue (JetStream stream ${streamName(opts)}) could not be opened: ${(err as Error).message}`, { cause: err, retryAfterSeconds: 5 });
    }
  }

  private subject(kind: string, id: string): string {
    return `tessera.${this.opts.prefix}.${this.lane}.${kind}.${id}`;
  }

  private check(kind: string, id: string) {
    if (!KIND.test(kind) || !ID.test(id)) throw new TesseraError('internal', `'${kind}.${id}' cannot name work`);
  }

  /** What `kind` messages run on this node (set before consume). */
  handle(kind: string, handler: WorkHandler): void {
    this.handlers.set(kind, handler);
  }

  /**
   * Publishes work, acknowledged by the stream (stored) before this resolves. The same kind and `dedupe`
   * (the id by default) published again within two minutes is dropped as a duplicate by the server.
   */
  async publish(kind: string, id: string, body: Buffer, dedupe: string = id): Promise<void> {
    this.check(kind, id);
    const subject = this.subject(kind, id);
    try {
      await this.js.publish(subject, seal(this.opts.key, body, Buffer.from(subject)), { msgID: `${kind}.${dedupe}`, timeout: this.opts.timeoutMs });
    } catch (err) {
      throw new TesseraError('unavailable', `NATS did not take ${kind} ${id} into the work queue: ${(err as Error).message}`, { cause: err, retryAfterSeconds: 5 });
    }
  }

  /** Whether work of this kind and id waits in the stream (published and not yet acknowledged). */
  async pending(kind: string, id: string): Promise<boolean> {
    this.check(kind, id);
    try {
      await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(kind, id) });
      return true;
    } catch (err) {
      if (/no message found|not found/i.test((err as Error).message)) return false;
      throw new TesseraError('unavailable', `NATS could not be asked about ${kind} ${id} in the work queue: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Starts pulling work: `concurrency` messages at most are handled at once on this node. */
  async consume(concurrency: number): Promise<void> {
    this.consumer = await this.js.consumers.get(this.stream, 'workers');
    for (let i = 0; i < concurrency; i++) this.loops.push(this.pull());
  }

  private async pull(): Promise<void> {
    while (!this.stopped) {
      let msg: JsMsg | null = null;
      try {
        msg = await this.consumer!.next({ expires: 2000 });
      } catch (err) {
        if (this.stopped) return;
        this.opts.logger.warn({ err: (err as Error).message }, 'the work queue could not pull work (NATS away?); trying again');
        await sleep(1000);
        continue;
      }
      if (!msg) continue;
      if (this.stopped) {
        // Pulled as the node stops: handed back at once, for another node.
        msg.nak();
        return;
      }
      const running = this.run(msg);
      this.inFlight.add(running);
      await running;
      this.inFlight.delete(running);
    }
  }

  private async run(msg: JsMsg): Promise<void> {
    const [, , , kind, id] = msg.subject.split('.');
    const handler = this.handlers.get(kind);
    const count = msg.info.deliveryCount;
    if (count > 1) this.stats.redelivered++;
    let body: Buffer;
    try {
      body = unseal(this.opts.key, Buffer.from(msg.data), Buffer.from(msg.subject));
    } catch {
      // Not sealed by this service's key: nobody can run it. Dropped for good, and said.
      this.opts.logger.error({ subject: msg.subject }, 'a work message that is not sealed by this service was dropped');
      msg.term('not sealed by this service');
      return;
    }
    if (!handler) {
      // A node without this handler (an older version, or a role that does not run it) leaves it to others.
      msg.nak(1000);
      return;
    }
    const beat = setInterval(() => msg.working(), Math.max(100, Math.floor(this.opts.ackWaitMs / 3)));
    try {
      await handler(id, body, { count });
      msg.ack();
      this.stats.handled++;
    } catch (err) {
      if (err instanceof WorkElsewhere) {
        msg.nak(err.retryInMs);
        return;
      }
      // A delivery another node's later one replaced (a task taken over): left alone, neither acknowledged
      // (that would end the later delivery too) nor handed back.
      if ((err as { leaveDelivery?: unknown })?.leaveDelivery === true) return;
      this.stats.failed++;
      this.opts.logger.warn({ kind, id, delivery: count, err: (err as Error).message }, 'work failed here; it is handed back for another try');
      msg.nak(1000);
    } finally {
      clearInterval(beat);
    }
  }

  /** Tells nodes waiting on this work that its outcome is in the Store (best effort: waiters also poll). */
  notify(kind: string, id: string): void {
    try {
      this.opts.nc.publish(`tessera.${this.opts.prefix}.done.${kind}.${id}`);
    } catch {
      // NATS away: the waiter's own polling of the Store finds the outcome.
    }
  }

  /**
   * Waits until `settled()` (a read of the Store) says the work has its outcome: woken by notify(), and
   * checking at least every `pollMs` in case a notification was lost. False when `timeoutMs` passed first.
   */
  async waitFor(kind: string, id: string, settled: () => boolean, timeoutMs: number, pollMs = 1000): Promise<boolean> {
    this.check(kind, id);
    const deadline = Date.now() + timeoutMs;
    let woken: (() => void) | null = null;
    let sub: ReturnType<NatsConnection['subscribe']> | null = null;
    try {
      sub = this.opts.nc.subscribe(`tessera.${this.opts.prefix}.done.${kind}.${id}`, { callback: () => woken?.() });
    } catch {
      // NATS away: polling alone.
    }
    try {
      for (;;) {
        if (settled()) return true;
        const left = deadline - Date.now();
        if (left <= 0) return false;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(pollMs, left));
          woken = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        woken = null;
      }
    } finally {
      sub?.unsubscribe();
    }
  }

  /** Stops pulling; work already running here finishes (and is acknowledged) first. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Waits for the pull loops to end (after stop); their pending pulls end within 2 s. */
  async drained(): Promise<void> {
    await Promise.allSettled(this.loops);
  }
}
