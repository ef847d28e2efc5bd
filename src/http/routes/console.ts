import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TesseraError } from '../../errors/index.js';

/** Where `npm run build` puts the console (scripts/build-console.mjs): dist/console, beside dist/src. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../console/', import.meta.url));

/**
 * The console's own policy: its scripts and styles come from this node only, it talks to this node only,
 * and no other site may frame it (clickjacking a ballot). Files the user decrypts are shown as blob: URLs.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/**
 * The web console at /console/: static files, served to anyone (like /v1/api, it is not secret; requests
 * from it authenticate as any other client's do). The Brotli or gzip copy the build wrote is sent as it is.
 */
export async function consoleRoutes(app: FastifyInstance) {
  if (!existsSync(CONSOLE_DIR)) {
    app.get('/console/*', { schema: { hide: true } }, async () => {
      throw new TesseraError('not_found', 'the web console is not built on this node: run `npm run build` (it writes dist/console/)');
    });
    return;
  }
  await app.register(fastifyStatic, {
    root: CONSOLE_DIR,
    prefix: '/console/',
    decorateReply: false,
    preCompressed: true,
    index: ['index.html'],
    // Only what the build made: never its source maps' neighbours outside dist/console.
    dotfiles: 'deny',
    schemaHide: true,
    setHeaders: (reply, path) => {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
      // Hashed chunk names never change content; the shell and the entry may.
      reply.header('cache-control', /chunk-[A-Z0-9]+\.js$/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/', 301));
}
