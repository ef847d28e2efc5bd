import { randomBytes } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { servicePrefix } from '../cluster/nats-connection.js';
import { seal, unseal } from '../crypto/aead.js';
import { TesseraError } from '../errors/index.js';

// Requests for a workflow that another node of the cluster hosts, carried over NATS request/reply: an
// http-ingress request (which needs the workflow's answer) and an inspection (its instances live on the
// host). Each node answers on subjects of its own, under a prefix derived from store.schema so that
// services sharing one NATS server never see each other's requests. A request to a node that is gone
// fails at once (NATS reports no responders) or after the timeout, as 'unavailable': the workflow is then
// moving to another node (placement), and the caller may retry.
//
// Requests and answers are sealed (AES-256-GCM under a key derived from the master key, the subject as
// associated data): an ingress body is a user's data, and the NATS server and its operator must not read
// it, nor forge a request a node would act on.

export interface IngressPayload {
  method: string;
  host: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface IngressAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What this node answers for the workflows it hosts. */
export interface ForwardHandlers {
  ingress(workflowId: string, req: IngressPayload): Promise<IngressAnswer>;
  inspect(workflowId: string): unknown;
}

export interface ForwarderOptions {
  /** The node's NATS connection (src/cluster/nats-connection.ts), shared with the work queue. */
  nc: NatsConnection;
  /** Seals requests and answers; derived from the master key. */
  key: Buffer;
  timeoutMs: number;
  /** store.schema: the subjects' prefix is derived from it. */
  schema: string;
  nodeId: string;
  logger: Logger;
}

/** The subject prefix of one service's workflow requests, beside its work queue's (`tessera.<schema>.wf`). */
export const subjectPrefix = (schema: string) => `tessera.${servicePrefix(schema)}.wf`;

const asWire = (b: Buffer) => b.toString('base64');
const fromWire = (s: unknown) => Buffer.from(typeof s === 'string' ? s : '', 'base64');

/** How far a request's time may be from the answering node's clock (the clock allowance of certificates). */
const REQUEST_WINDOW_MS = 5 * 60_000;

export class WorkflowForwarder {
  private readonly subs: Subscription[] = [];
  /** Nonces answered in the last two windows, oldest first (a Map keeps insertion order). */
  private readonly seen = new Map<string, number>();
  private readonly prefix: string;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly opts: ForwarderOptions,
  ) {
    this.prefix = subjectPrefix(opts.schema);
  }

  static open(opts: ForwarderOptions): WorkflowForwarder {
    return new WorkflowForwarder(opts.nc, opts);
  }

  // A request carries a fresh nonce and its time; its answer is sealed to that nonce. So a NATS server can
  // neither hand one request's answer to another request, nor replay a request a node already answered.
  private sealed(aad: string, value: unknown): Uint8Array {
    return seal(this.opts.key, Buffer.from(JSON.stringify(value)), Buffer.from(aad));
  }

  private opened<T>(aad: string, data: Uint8Array): T {
    return JSON.parse(unseal(this.opts.key, Buffer.from(data), Buffer.from(aad)).toString()) as T;
  }

  /** Whether a request's nonce and time are fresh: within the clock allowance, and not seen before. */
  private fresh(nonce: unknown, at: unknown): boolean {
    const now = Date.now();
    if (typeof nonce !== 'string' || typeof at !== 'number' || Math.abs(now - at) > REQUEST_WINDOW_MS) return false;
    for (const [seen, when] of this.seen) {
      if (now - when <= 2 * REQUEST_WINDOW_MS) break;
      this.seen.delete(seen);
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, now);
    return true;
  }

  /** Answers other nodes' requests for the workflows this node hosts. */
  serve(handlers: ForwardHandlers): void {
    const answer = (subject: string, fn: (req: Record<string, unknown>) => Promise<unknown>) => {
      const sub = this.nc.subscribe(subject);
      this.subs.push(sub);
      void (async () => {
        for await (const m of sub) {
          void (async () => {
            let reply: unknown;
            let nonce = '';
            try {
              let request: Record<string, unknown>;
              try {
                request = this.opened(subject, m.data);
              } catch {
                // Not sealed by this service: not answered at all, as if nobody listened.
                this.opts.logger.warn({ subject }, 'a workflow request not sealed by this service was ignored');
                return;
              }
              if (!this.fresh(request.nonce, request.at)) {
                this.opts.logger.warn({ subject }, 'a workflow request that is stale or was answered before (a replay) was ignored');
                return;
              }
              nonce = String(request.nonce);
              reply = { ok: await fn(request) };
            } catch (err) {
              const e = err instanceof TesseraError ? err : new TesseraError('internal', (err as Error).message);
              reply = { error: { code: e.code, message: e.message } };
            }
            try {
              if (nonce) m.respond(this.sealed(`${subject}\0answer\0${nonce}`, reply));
            } catch (err) {
              this.opts.logger.warn({ err: (err as Error).message }, 'could not answer a workflow request from another node');
            }
          })();
        }
      })();
    };
    answer(`${this.prefix}.ingress.${this.opts.nodeId}`, async (r) => {
      const a = await handlers.ingress(String(r.workflow_id), { method: String(r.method), host: String(r.host), path: String(r.path), headers: (r.headers ?? {}) as Record<string, string>, body: fromWire(r.body) });
      return { status: a.status, headers: a.headers, body: asWire(a.body) };
    });
    answer(`${this.prefix}.inspect.${this.opts.nodeId}`, async (r) => handlers.inspect(String(r.workflow_id)));
  }

  /** An http-ingress request for `workflowId`, answered by `nodeId`, which hosts it. */
  async ingress(nodeId: string, workflowId: string, req: IngressPayload): Promise<IngressAnswer> {
    const a = (await this.request(nodeId, 'ingress', { workflow_id: workflowId, method: req.method, host: req.host, path: req.path, headers: req.headers, body: asWire(req.body) })) as { status: number; headers: Record<string, string>; body: string };
    return { status: a.status, headers: a.headers ?? {}, body: fromWire(a.body) };
  }

  /** A workflow's instances, as `nodeId`, which hosts it, sees them. */
  inspect(nodeId: string, workflowId: string): Promise<unknown> {
    return this.request(nodeId, 'inspect', { workflow_id: workflowId });
  }

  /** Stops answering; the connection is the node's, closed with the work queue. */
  async close(): Promise<void> {
    for (const s of this.subs.splice(0)) s.unsubscribe();
  }

  private async request(nodeId: string, kind: string, body: unknown): Promise<unknown> {
    let reply: { ok?: unknown; error?: { code: string; message: string } };
    try {
      const subject = `${this.prefix}.${kind}.${nodeId}`;
      const nonce = randomBytes(16).toString('hex');
      const m = await this.nc.request(subject, this.sealed(subject, { ...(body as object), nonce, at: Date.now() }), { timeout: this.opts.timeoutMs });
      reply = this.opened(`${subject}\0answer\0${nonce}`, m.data);
    } catch (err) {
      throw new TesseraError('unavailable', `node ${nodeId}, which runs this workflow, did not answer (${(err as Error).message}); if it is down, the workflow moves to another node within seconds: retry`, { cause: err, retryAfterSeconds: 2 });
    }
    if (reply.error) throw new TesseraError(reply.error.code as never, reply.error.message);
    return reply.ok;
  }
}
