import type { FastifyReply } from 'fastify';
import type { ErrorCode, TesseraError } from '../errors/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Errors of this route are sent as CCF's frontends send them: see replyError's `exactJson`. */
    exactJsonErrors?: boolean;
  }
}

// The one place where HTTP replies for errors (and CCF's other non-handler answers) are made. Domain code
// throws a TesseraError with a stable code; its status and CCF code come from src/errors/, and the headers
// that belong to the error are added here, never at the throw site.

/**
 * Headers a code always carries. CCF marks a transaction it does not know yet as not cacheable, since the
 * same request may succeed a moment later (src/node/historical_queries_adapter.cpp, TransactionPending).
 */
const CODE_HEADERS: Partial<Record<ErrorCode, Record<string, string>>> = {
  tx_pending_or_unknown: { 'cache-control': 'no-cache' },
};

/** The headers of an error's reply: the code's own, then what the error itself says (when to retry, which methods, which scheme). */
export function errorHeaders(err: TesseraError): Record<string, string> {
  const headers: Record<string, string> = { ...CODE_HEADERS[err.code] };
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  if (err.allowedMethods?.length) headers.allow = err.allowedMethods.join(', ');
  if (err.challenge) headers['www-authenticate'] = err.challenge;
  return headers;
}

/** CCF's error body (include/ccf/odata_error.h, ODataErrorResponse): {error: {code, message, details?}}. */
export function errorBody(err: TesseraError) {
  return { error: { code: err.ccfCode, message: err.message, ...(err.details ? { details: err.details } : {}) } };
}

/**
 * Sends `err` as CCF does. `exactJson`: the body is sent as `application/json` with no charset, as CCF's
 * frontends set it (the app frontend's errors); otherwise Fastify's JSON serialisation and content type,
 * which Tessera's own routes have always had.
 */
export function replyError(reply: FastifyReply, err: TesseraError, exactJson = false) {
  void reply.status(err.httpStatus).headers(errorHeaders(err));
  // As bytes: Fastify adds a charset to a JSON type when the body is a string or an object.
  if (exactJson) return reply.type('application/json').send(Buffer.from(JSON.stringify(errorBody(err))));
  return reply.send(errorBody(err));
}

/**
 * CCF's answer while a committed transaction's state or receipt is still being fetched (its historical
 * adapter's 202 with retry-after: 3, as text): not an error, the caller asks again.
 */
export function replyHistoricalPending(reply: FastifyReply, transactionId: string) {
  return reply.status(202).header('retry-after', '3').type('text/plain').send(`Historical transaction ${transactionId} is not currently available.`);
}
