// The OpenAPI description covers every REST surface with its security, validates, and is browsable at /v1/docs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { type TestNode, startNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.log = { level: 'warn' }) });
});
after(() => node.cleanup());

const anonymous = (p: string) => https(`https://127.0.0.1:${node.ports.https}${p}`, { ca: node.ca });
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

test('/v1/api: a valid OpenAPI document with every surface, each operation with a summary and its security', async () => {
  const r = await anonymous('/v1/api');
  assert.equal(r.status, 200, 'served without a client certificate');
  const doc = r.json();
  assert.equal(doc.openapi, '3.1.0');
  // Validated against the OpenAPI 3.1 schema, with every $ref resolved (on a copy: validate() dereferences).
  await SwaggerParser.validate(structuredClone(doc));

  assert.deepEqual(doc.components.securitySchemes.clientCertificate.type, 'mutualTLS');
  assert.deepEqual({ type: doc.components.securitySchemes.userToken.type, scheme: doc.components.securitySchemes.userToken.scheme }, { type: 'http', scheme: 'bearer' });

  const expected: Record<string, string> = {
    '/v1/files': 'post',
    '/v1/tasks/{id}/invoke': 'post',
    '/v1/functions': 'post',
    '/v1/fns': 'post',
    '/v1/workflows': 'post',
    '/gov/members/proposals:create': 'post',
    '/gov/members/proposals/{proposalId}/ballots/{memberId}:submit': 'post',
    '/gov/members/proposals/{proposalId}:withdraw': 'post',
    '/gov/members/state-digests/{memberId}:ack': 'post',
    '/gov/members/proposals': 'get',
    '/invoke/{id}': 'post',
    '/t/{app}': 'post',
    '/t/{app}/{path}': 'post',
    '/ingress/{path}': 'post',
    '/app/{path}': 'post',
    '/app/receipt': 'get',
    '/node/state': 'get',
    '/metrics': 'get',
    '/v1/health': 'get',
  };
  for (const [path, method] of Object.entries(expected)) assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is described`);

  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      assert.ok(typeof op.summary === 'string' && op.summary.length > 0, `${method} ${path} has a summary`);
      assert.ok(Array.isArray(op.security), `${method} ${path} declares its security`);
      for (const requirement of op.security) for (const name of Object.keys(requirement)) assert.ok(doc.components.securitySchemes[name], `${method} ${path}: scheme ${name} is declared`);
    }
  }

  // Security as src/http/auth.ts applies it.
  const schemes = (path: string, method: string) => doc.paths[path][method].security.map((s: object) => Object.keys(s).sort().join('+')).sort();
  assert.deepEqual(schemes('/v1/files', 'post'), ['clientCertificate', 'clientCertificate+userToken'], 'a user sends a certificate and a token; a member or service the certificate');
  assert.deepEqual(schemes('/invoke/{id}', 'post'), ['clientCertificate', 'clientCertificate+userToken']);
  assert.deepEqual(schemes('/gov/members/proposals:create', 'post'), [], "governance writes are authenticated by the member's signature in the body");
  assert.match(doc.paths['/gov/members/proposals:create'].post.description, /COSE Sign1/);
  assert.deepEqual(schemes('/node/state', 'get'), []);
  assert.deepEqual(schemes('/metrics', 'get'), ['clientCertificate'], 'members and the service identity only');
});

test('/v1/docs: the Swagger UI page, which loads the same description', async () => {
  const page = await anonymous('/v1/docs/');
  assert.equal(page.status, 200, page.body.toString());
  assert.match(String(page.headers['content-type']), /text\/html/);
  assert.match(page.body.toString(), /swagger-ui/i);
  const spec = await anonymous('/v1/docs/json');
  assert.equal(spec.status, 200);
  assert.ok(spec.json().paths['/gov/members/proposals:create']);
  // The UI's own files are served too.
  const script = await anonymous('/v1/docs/static/swagger-ui-bundle.js');
  assert.equal(script.status, 200);
});
