import type { FastifyInstance } from 'fastify';
import type { Ledger } from '../../store/ledger.js';
import { txIdOf } from '../../store/ledger.js';

const txQuery = { type: 'object', required: ['transaction_id'], properties: { transaction_id: { type: 'string' } } };

/** CCF's built-in ledger endpoints under /app. */
export function ledgerRoutes(app: FastifyInstance, ledger: Ledger) {
  app.get<{ Querystring: { transaction_id: string } }>('/app/receipt', {
    schema: { tags: ['ledger'], summary: 'A receipt for a committed transaction (CCF v1 JSON), verifiable offline', querystring: txQuery },
    handler: async (request, reply) => {
      const receipt = ledger.receipt(request.query.transaction_id);
      if (!receipt) {
        return reply
          .status(202)
          .header('retry-after', '1')
          .type('text/plain')
          .send(`Transaction ${request.query.transaction_id} is committed but not yet covered by a signature; retry shortly.`);
      }
      return receipt;
    },
  });

  app.get<{ Querystring: { transaction_id: string } }>('/app/tx', {
    schema: { tags: ['ledger'], summary: 'The status of a transaction', querystring: txQuery },
    handler: async (request) => ({ transaction_id: request.query.transaction_id, status: ledger.status(request.query.transaction_id) }),
  });

  app.get('/app/commit', {
    schema: { tags: ['ledger'], summary: 'The last committed transaction id' },
    handler: async () => ({ transaction_id: txIdOf(ledger.lastCommitted()) }),
  });
}
