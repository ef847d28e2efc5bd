// Baseline for the app KV benchmark: a plain Node HTTPS server with the same mutual TLS that does the
// same SQLite work as the app endpoints (WAL, synchronous=FULL; one read, or one durable upsert, per
// request), with no sandbox, no ledger and no auth policy.
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';

const [dataDir, dbPath] = process.argv.slice(2);
const db = new Database(dbPath);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
const get = db.prepare<[string], { value: string }>('SELECT value FROM kv WHERE key = ?');
const put = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');

const server = createServer(
  {
    cert: readFileSync(join(dataDir, 'node', 'cert.pem')),
    // The node's key is kept sealed in its data directory; the bench unseals it and hands it over.
    key: process.env.BASELINE_KEY_PEM!,
    ca: [readFileSync(join(dataDir, 'ca.pem'))],
    requestCert: true,
    rejectUnauthorized: true,
  },
  (req, res) => {
    const key = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
    if (req.method === 'GET') {
      const row = get.get(key);
      res.writeHead(row ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(row ? { value: row.value } : { error: 'missing' }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      put.run(key, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(204);
      res.end();
    });
  },
);
server.listen(0, '127.0.0.1', () => console.log(`baseline ready ${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => process.exit(0));
