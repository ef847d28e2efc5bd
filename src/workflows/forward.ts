import { createHash } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';

// Requests for a workflow that another node of the cluster hosts, carried over NATS request/reply: an
// http-ingress request (which needs the workflow's answer) and an inspection (its instances live on the
// host). Each node answers on subjects of its own, under a prefix derived from store.schema so that
// services sharing one NATS server never see each other's requests. A request to a node that is gone
// fails at once (NATS reports no responders) or after the timeout, as 'unavailable': the workflow is then
// moving to another node (placement), and the caller may retry.

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
  servers: string | string[];
  tls?: { ca?: string; cert?: string; key?: string };
  timeoutMs: number;
  /** store.schema: the subjects' prefix is derived from it. */
  schema: string;
  nodeId: string;
  logger: Logger;
}

/** The subject prefix of one service's workflow requests (`tessera.<8 bytes of SHA-256(schema)>.wf`). */
export const subjectPrefix = (schema: string) => `tessera.${createHash('sha256').update('tessera workflows\0').update(schema).digest('hex').slice(0, 16)}.wf`;

const asWire = (b: Buffer) => b.toString('base64');
const fromWire = (s: unknown) => Buffer.from(typeof s === 'string' ? s : '', 'base64');

export class WorkflowForwarder {
  private readonly subs: Subscription[] = [];
  private readonly prefix: string;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly opts: ForwarderOptions,
  ) {
    this.prefix = subjectPrefix(opts.schema);
  }

  static async open(opts: ForwarderOptions): Promise<WorkflowForwarder> {
    try {
      const nc = await connect({
        servers: opts.servers,
        name: `tessera-workflows-${opts.nodeId}`,
        timeout: opts.timeoutMs,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        ...(opts.tls ? { tls: { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key } } : {}),
      });
      return new WorkflowForwarder(nc, opts);
    } catch (err) {
      throw new TesseraError('unavailable', `workflow requests between nodes need NATS, which could not be reached: ${(err as Error).message}`, { cause: err, retryAfterSeconds: 5 });
    }
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
            try {
              reply = { ok: await fn(m.json<Record<string, unknown>>()) };
            } catch (err) {
              const e = err instanceof TesseraError ? err : new TesseraError('internal', (err as Error).message);
              reply = { error: { code: e.code, message: e.message } };
            }
            try {
              m.respond(JSON.stringify(reply));
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

  async close(): Promise<void> {
    for (const s of this.subs.splice(0)) s.unsubscribe();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }

  private async request(nodeId: string, kind: string, body: unknown): Promise<unknown> {
    let reply: { ok?: unknown; error?: { code: string; message: string } };
    try {
      const m = await this.nc.request(`${this.prefix}.${kind}.${nodeId}`, JSON.stringify(body), { timeout: this.opts.timeoutMs });
      reply = m.json();
    } catch (err) {
      throw new TesseraError('unavailable', `node ${nodeId}, which runs this workflow, did not answer (${(err as Error).message}); if it is down, the workflow moves to another node within seconds: retry`, { cause: err, retryAfterSeconds: 2 });
    }
    if (reply.error) throw new TesseraError(reply.error.code as never, reply.error.message);
    return reply.ok;
  }
}
