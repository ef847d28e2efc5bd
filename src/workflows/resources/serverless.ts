import { STATUS_CODES } from 'node:http';
import { randomUUID } from 'node:crypto';
import { egressTarget } from './http-poster.js';
import type { ResourceClass, ResourceSettings } from './types.js';
import { NO_REPLY } from './types.js';

/** Casts not yet posted that one resource holds; past it a cast is dropped with a warning. */
const MAX_PENDING = 1000;

/**
 * serverless (EDGELESS resources/serverless.rs): the operator defines the classes
 * (workflows.resources.serverless: class_type, version, function_url, like EDGELESS's
 * [[resources.serverless_provider]]). Each cast is `POST <function_url>` with the payload as the body
 * (OpenFaaS style), one at a time in order: a 200 casts the response body to the output `out`, anything
 * else casts EDGELESS's error text to `err`; an unmapped output drops the event. Calls get NoReply at once
 * (EDGELESS ignores them and never answers). Unlike EDGELESS, function_url's host must be in
 * workflows.egress_hosts (checked when a workflow starts the resource) and redirects are not followed.
 */
export function serverlessClass(entry: ResourceSettings['serverless'][number]): ResourceClass {
  return {
    classType: entry.class_type,
    unavailable: () => null,
    start: async (ctx) => {
      const url = egressTarget(ctx, entry.function_url, `resource '${ctx.name}' (serverless class '${entry.class_type}'): function_url of workflows.resources.serverless`);
      // EDGELESS names the resource instance in its error text; this is ours.
      const id = randomUUID();
      const failed = (why: string) => `error when calling serverless function at ${entry.function_url} for resource ${id}: ${why}`;
      let queue: Promise<void> = Promise.resolve();
      let pending = 0;
      let stopped = false;
      const invoke = async (payload: string) => {
        try {
          const res = await fetch(url, { method: 'POST', body: payload, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
          const body = await res.text();
          if (stopped) return;
          // reqwest's StatusCode prints as "404 Not Found"
          if (res.status === 200) ctx.emit('out', body);
          else ctx.emit('err', failed(`status ${res.status}${STATUS_CODES[res.status] ? ` ${STATUS_CODES[res.status]}` : ''} returned`));
        } catch (err) {
          if (!stopped) ctx.emit('err', failed((err as Error).message));
        }
      };
      return {
        cast: (payload) => {
          if (stopped) return;
          if (pending >= MAX_PENDING) {
            ctx.logger.warn({ workflow: ctx.workflowId, resource: ctx.name }, `serverless: ${MAX_PENDING} invocations already pending; cast dropped`);
            return;
          }
          pending++;
          queue = queue.then(async () => {
            if (!stopped) await invoke(payload);
            pending--;
          });
        },
        call: () => NO_REPLY,
        stop: () => {
          stopped = true;
        },
      };
    },
  };
}

/** The serverless classes the operator configured, in order. */
export const serverlessClasses = (settings: ResourceSettings): ResourceClass[] => settings.serverless.map(serverlessClass);
