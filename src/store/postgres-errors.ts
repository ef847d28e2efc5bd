import pg from 'pg';

/**
 * Connection-level failures: the server is down, restarting, or did not answer in time. Only PostgreSQL's
 * own errors (pg.DatabaseError) carry an SQLSTATE; anything else is the connection's (ECONNREFUSED, ENOENT,
 * EPIPE, ECONNRESET, a timeout, a terminated connection). A socket's code is not read as an SQLSTATE, though
 * some (EPIPE) have the same shape: five capitals.
 */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; lost?: boolean };
  if (e.lost) return true;
  if (!(err instanceof pg.DatabaseError) || typeof e.code !== 'string') return true;
  return e.code.startsWith('08') || e.code.startsWith('57P') || e.code === '53300';
}
