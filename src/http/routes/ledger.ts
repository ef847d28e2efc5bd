import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../errors/index.js';
import { type Ledger, VIEW, parseTxId, txIdOf } from '../../store/ledger.js';
import { sendJson } from './negotiate.js';
import { replyHistoricalPending } from '../replies.js';

// CCF's common endpoints (src/endpoints/common_endpoint_registry.cpp): every frontend has /commit, /tx
// and /receipt, with no authentication, so they are served under /app, /node and /gov alike, and without
// a prefix too, since CCF hands a path whose first segment names no frontend to the app's
// (src/http/http_rpc_context.h, fetch_rpc_handler). Requests and errors are CCF's.

const queryOf = (request: FastifyRequest) => new URLSearchParams(new URL(request.url, 'https://node').search);
const badQuery = (message: string) => new TesseraError('invalid_query_parameter', message);

/**
 * The first transaction of each view, from view 1: a Tessera service starts in view 2 at its first
 * transaction, and view 1 (CCF's internal first view) is empty, so it starts there too.
 */
function viewHistory(since: number): string[] {
  return Array.from({ length: VIEW - since + 1 }, (_, i) => `${since + i}.1`);
}

export function commitHandler(ledger: Ledger) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const q = queryOf(request);
    const out: { transaction_id: string; view_history?: string[] } = { transaction_id: txIdOf(ledger.lastCommitted()) };
    const rangeMessage = 'Invalid value for view_history_since, must be in range [1, current_term]';
    const sinceText = q.get('view_history_since');
    if (sinceText !== null) {
      if (!/^\d+$/.test(sinceText)) throw badQuery(`Unable to parse value '${sinceText}' in parameter 'view_history_since'`);
      const since = Number(sinceText);
      if (since < 1) throw badQuery(rangeMessage);
      if (since > VIEW) throw new TesseraError('view_not_found', rangeMessage);
      out.view_history = viewHistory(since);
    }
    const all = q.get('view_history');
    if (all !== null) {
      if (all === 'true') out.view_history = viewHistory(1);
      else if (all === 'false') delete out.view_history;
      else throw badQuery('Invalid value for view_history, must be one of [true, false] when present');
    }
    return sendJson(request, reply, out);
  };
}

export function txHandler(ledger: Ledger) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const id = queryOf(request).get('transaction_id');
    if (id === null) throw badQuery("Missing query parameter 'transaction_id'");
    if (!parseTxId(id)) throw badQuery(`The value '${id}' passed as query parameter 'transaction_id' could not be converted to a valid Transaction ID.`);
    return sendJson(request, reply, { status: ledger.status(id), transaction_id: id });
  };
}

export function receiptHandler(ledger: Ledger) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const id = queryOf(request).get('transaction_id');
    // CCF's extractor sets 400 for a missing or malformed id, and its historical adapter then overwrites
    // that with TransactionIdMissing's answer: 404 TransactionInvalid.
    if (id === null || !parseTxId(id)) throw new TesseraError('tx_invalid', 'Could not extract Transaction Id');
    // A pending transaction's refusal carries CCF's cache-control: no-cache, added where every error is sent (../replies.ts).
    const receipt = ledger.receipt(id);
    if (!receipt) return replyHistoricalPending(reply, id);
    return sendJson(request, reply, receipt);
  };
}

const txQuery = { type: 'object', properties: { transaction_id: { type: 'string' } } };

/** The common endpoints under every frontend prefix (and none); none needs a caller identity. */
export function ledgerRoutes(app: FastifyInstance, ledger: Ledger) {
  const commit = commitHandler(ledger);
  const tx = txHandler(ledger);
  const receipt = receiptHandler(ledger);
  const commitSchema = { tags: ['ledger'], summary: 'The last committed transaction id (CCF /commit)' };
  const txSchema = { tags: ['ledger'], summary: 'The status of a transaction (CCF /tx)', querystring: txQuery };
  const receiptSchema = { tags: ['ledger'], summary: 'A receipt for a committed transaction (CCF v1 JSON), verifiable offline', querystring: txQuery };
  app.get('/app/commit', { schema: commitSchema }, commit);
  app.get('/app/tx', { schema: txSchema }, tx);
  app.get('/app/receipt', { schema: receiptSchema }, receipt);
  app.get('/node/commit', { schema: { hide: true } }, commit);
  app.get('/node/tx', { schema: { hide: true } }, tx);
  app.get('/node/receipt', { schema: { hide: true } }, receipt);
  app.get('/gov/commit', { schema: { hide: true } }, commit);
  app.get('/gov/tx', { schema: { hide: true } }, tx);
  app.get('/gov/receipt', { schema: { hide: true } }, receipt);
  app.get('/commit', { schema: { hide: true } }, commit);
  app.get('/tx', { schema: { hide: true } }, tx);
  app.get('/receipt', { schema: { hide: true } }, receipt);
}
