import { createClient } from '@redis/client';
import { createHash } from 'node:crypto';
import { TesseraError } from '../../errors/index.js';
import type { ResourceClass } from './types.js';
import { ERR, reply } from './types.js';

/** A Redis URL reduced to what decides which server and database it reaches. */
interface RedisTarget {
  scheme: 'redis:' | 'rediss:';
  host: string;
  port: number;
  db: number;
  username: string;
  password: string;
}

/** Parses redis://[user:pass@]host[:port][/db]; null when it is not one (a query or fragment is refused too). */
export function parseRedisUrl(text: string): RedisTarget | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !u.hostname || u.search || u.hash) return null;
  const path = u.pathname === '' ? '/' : u.pathname;
  if (!/^\/([0-9]{1,5})?$/.test(path)) return null;
  return {
    scheme: u.protocol,
    host: u.hostname.toLowerCase(),
    port: u.port ? Number(u.port) : 6379,
    db: path.length > 1 ? Number(path.slice(1)) : 0,
    username: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

/** The URL without its credentials, for messages and logs. */
const shown = (t: RedisTarget) => `${t.scheme}//${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}/${t.db}`;

/**
 * The prefix Tessera puts before every key of an owner's redis resources, so tenants sharing a server
 * never share keys: a hash of the owner's principal id (not the id itself, which the server's other users
 * need not learn).
 */
export const redisTenantPrefix = (owner: string) => `${createHash('sha256').update(`tessera redis tenant\0${owner}`).digest('hex').slice(0, 32)}:`;

/**
 * redis (EDGELESS resources/redis.rs, version 1.2): a cast is `SET <key> <payload>` on the configured `key`
 * (without one the cast is dropped with a warning), a call is `GET <payload>` replying the value, or Err
 * when the key is missing or the command fails. `add-workflow-id` (present, whatever its value) puts
 * `<workflow id>:` before the key. Unlike EDGELESS, the url must be one of the operator's
 * workflows.resources.redis.allowed_urls, and every key starts with the owner's tenant prefix.
 */
export const redis: ResourceClass = {
  classType: 'redis',
  unavailable: (s) => (s.redis.allowedUrls.length ? null : 'workflows.resources.redis.allowed_urls is empty'),
  start: async (ctx) => {
    const what = `resource '${ctx.name}' (redis)`;
    const { url } = ctx.configurations;
    if (url === undefined) throw new TesseraError('invalid_input', `${what}: configuration 'url' is missing (EDGELESS: Missing Redis URL)`);
    const target = parseRedisUrl(url);
    if (!target) throw new TesseraError('invalid_input', `${what}: url is not a redis:// or rediss:// URL with an optional database number`);
    // Scheme, host, port and database must be exactly an allowed entry's; credentials are not compared.
    const allowed = ctx.settings.redis.allowedUrls.map(parseRedisUrl).find((a) => a && a.scheme === target.scheme && a.host === target.host && a.port === target.port && a.db === target.db);
    if (!allowed) throw new TesseraError('invalid_input', `${what}: url ${shown(target)} is not one of the node's workflows.resources.redis.allowed_urls`);
    // A tenant who names no credentials uses the operator's, so the operator need not hand out the password.
    const username = target.username || target.password ? target.username : allowed.username;
    const password = target.username || target.password ? target.password : allowed.password;

    let ready = false;
    const client = createClient({
      username: username || undefined,
      password: password || undefined,
      database: target.db,
      // While the server is unreachable a SET fails (logged) and a GET is Err at once, rather than
      // queueing without bound in the node until it returns.
      disableOfflineQueue: true,
      socket: {
        host: target.host,
        port: target.port,
        ...(target.scheme === 'rediss:' ? { tls: true as const, servername: target.host } : {}),
        connectTimeout: 5000,
        // The first connection either works or refuses the start; once running, reconnect as node-redis does.
        reconnectStrategy: (retries: number, cause: Error) => (ready ? Math.min(100 * 2 ** Math.min(retries, 5), 3000) : cause),
      },
    });
    // Without a listener an 'error' event would end the node.
    client.on('error', (err: Error) => {
      if (ready) ctx.logger.warn({ workflow: ctx.workflowId, resource: ctx.name, server: shown(target), err: err.message }, 'redis connection error');
    });
    try {
      await client.connect();
    } catch (err) {
      client.destroy();
      throw new TesseraError('invalid_input', `${what}: cannot connect to ${shown(target)}: ${(err as Error).message}`);
    }
    ready = true;

    const prefix = redisTenantPrefix(ctx.owner) + ('add-workflow-id' in ctx.configurations ? `${ctx.workflowId}:` : '');
    const key = ctx.configurations.key;
    return {
      cast: (payload) => {
        if (key === undefined) {
          ctx.logger.warn({ workflow: ctx.workflowId, resource: ctx.name }, "redis: a cast (SET) on a resource without a 'key' configuration is dropped");
          return;
        }
        // One connection, so SETs reach the server in the order they were cast. The value is the
        // tenant's data: it is not logged.
        client.set(prefix + key, payload).catch((err: Error) => ctx.logger.warn({ workflow: ctx.workflowId, resource: ctx.name, key, err: err.message }, 'redis: SET failed'));
      },
      call: async (payload) => {
        try {
          const value = await client.get(prefix + payload);
          // A missing key is Err, as in EDGELESS (its GET into a String fails on nil).
          return typeof value === 'string' ? reply(value) : ERR;
        } catch (err) {
          ctx.logger.warn({ workflow: ctx.workflowId, resource: ctx.name, err: (err as Error).message }, 'redis: GET failed: Err');
          return ERR;
        }
      },
      stop: async () => {
        ready = false;
        try {
          await client.close();
        } catch {
          client.destroy();
        }
      },
    };
  },
};
