// The container's HEALTHCHECK (Dockerfile): GET /v1/health on the node's HTTPS listener, trusting only the
// node's own CA (DATA/ca.pem). Exit 0 when the node answers {"status":"ok"}, 1 otherwise, with one line why.
// The port comes from DATA/tessera.toml (http.port); the name in the certificate is not checked, since the
// CA is pinned and the probe connects to the loopback address, which the certificate need not name.
//
//   TESSERA_DATA=/var/lib/tessera/data node deploy/healthcheck.mjs
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { parse } from 'smol-toml';

const data = process.env.TESSERA_DATA ?? '/var/lib/tessera/data';
const fail = (why) => {
  console.error(`unhealthy: ${why}`);
  process.exit(1);
};
let port;
let ca;
try {
  const config = parse(readFileSync(join(data, 'tessera.toml'), 'utf8'));
  if (config.http?.enabled === false) fail('http.enabled is false: the health endpoint is on the HTTPS listener');
  port = Number(process.env.TESSERA_HEALTH_PORT ?? config.http?.port ?? 8000);
  ca = readFileSync(join(data, 'ca.pem'), 'utf8');
} catch (err) {
  fail(`cannot read the data directory ${data}: ${err.message}`);
}
const req = request({ host: '127.0.0.1', port, path: '/v1/health', ca, checkServerIdentity: () => undefined, timeout: 4000 }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (d) => (body += d));
  res.on('end', () => {
    try {
      if (res.statusCode === 200 && JSON.parse(body).status === 'ok') {
        console.log(`healthy: ${body}`);
        process.exit(0);
      }
    } catch {}
    fail(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`);
  });
});
req.on('timeout', () => req.destroy(new Error('no answer within 4 s')));
req.on('error', (err) => fail(err.message));
req.end();
