// Shared parts of the authorization matrices (test/reliability/authz-*.test.ts): the kinds of caller,
// the outcomes most routes share, how a row is run against every caller, and the scan of the route
// sources that makes a route with no row fail its file.
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { certIdOfPem, createCertificateAuthority, issueCertificate } from '../../src/crypto/certificates.js';
import { type GovMessageType, signCoseSign1 } from '../../src/crypto/cose.js';
import { REPO, type TestNode, tessera } from './cli.js';
import { type HttpsIdentity, type HttpsReply, https } from './https-client.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

/** What a cell expects: 'ok' for any 2xx, else the status; or a word a row's `observe` gives. */
export type Expected = number | string;
export type Identity = HttpsIdentity & { key?: string; cert?: string };

/**
 * The callers every matrix has. `owner` holds the resource a row targets; `otherUser` is another user of
 * the same node. `otherCa` presents a certificate named like the owner from another CA, with the owner's
 * token; `revoked` is a user removed before the run; `wrongToken` is the owner's certificate with a wrong
 * token. `member` is a governance member, `service` the node's own identity.
 */
export const BASE_CALLERS = ['anonymous', 'otherCa', 'revoked', 'wrongToken', 'otherUser', 'owner', 'member', 'service'] as const;
export type BaseCaller = (typeof BASE_CALLERS)[number];

/** Identities for the base callers; removes `names.revoked` from the node (so start it with that user). */
export async function baseCallers(node: TestNode, names: { owner: string; otherUser: string; revoked: string; member: string }): Promise<Record<BaseCaller, Identity>> {
  const ident = (name: string) => ({ ...node.identity(name), ca: node.ca });
  const impostor = await issueCertificate(await createCertificateAuthority('Mallory CA'), { name: names.owner, role: 'user' });
  const m = join(identitiesDirOf(node.dir), names.member);
  const who: Record<BaseCaller, Identity> = {
    anonymous: { ca: node.ca },
    otherCa: { cert: impostor.certPem, key: impostor.keyPem, token: node.identity(names.owner).token, ca: node.ca },
    revoked: ident(names.revoked),
    wrongToken: { ...ident(names.owner), token: 'f'.repeat(64) },
    otherUser: ident(names.otherUser),
    owner: ident(names.owner),
    member: { cert: readFileSync(join(m, 'cert.pem'), 'utf8'), key: readFileSync(join(m, 'key.pem'), 'utf8'), ca: node.ca },
    service: { ...node.service, ca: node.ca },
  };
  const removed = await tessera(['user', 'remove', names.revoked, '--data', node.dir]);
  assert.equal(removed.code, 0, removed.stderr);
  return who;
}

/** Outcome builders over a list of callers: every caller alike, then refusals laid over it. */
export function outcomesFor<C extends string>(callers: readonly C[]) {
  const everyone = (e: Expected) => Object.fromEntries(callers.map((c) => [c, e])) as Record<C, Expected>;
  const unauthenticated = Object.fromEntries(callers.filter((c) => ['anonymous', 'otherCa', 'revoked', 'wrongToken'].includes(c)).map((c) => [c, 401]));
  const anyIdentity = (e: Expected) => ({ ...everyone(e), ...unauthenticated }) as Record<C, Expected>;
  const usersOnly = (e: Expected) => ({ ...anyIdentity(e), ...Object.fromEntries(callers.filter((c) => c === 'member' || c === 'service').map((c) => [c, 403])) }) as Record<C, Expected>;
  return { everyone, anyIdentity, usersOnly };
}

export const outcome = (status: number): Expected => (status >= 200 && status < 300 ? 'ok' : status);

/** A REST row: the request a caller makes, an optional reading of the reply, and what each caller must get. */
export interface RestRow<C extends string> {
  route: string;
  /** Which case of the route this row is (several rows may cover one route). */
  what?: string;
  call: (c: C) => Promise<{ method?: string; path: string; json?: unknown; body?: Buffer; headers?: Record<string, string> }>;
  /** Turns a reply into a cell; `outcome` when left out. */
  observe?: (c: C, res: HttpsReply) => Expected | Promise<Expected>;
  expect: Record<C, Expected>;
}

/** Runs a row for every caller, one after another; returns the cells. */
export async function runRestRow<C extends string>(node: TestNode, who: Record<C, Identity>, callers: readonly C[], row: RestRow<C>): Promise<Record<C, Expected>> {
  const got = {} as Record<C, Expected>;
  for (const c of callers) {
    const req = await row.call(c);
    const res = await https(`https://127.0.0.1:${node.ports.https}${req.path}`, who[c], { method: req.method ?? 'GET', json: req.json, body: req.body, headers: req.headers });
    got[c] = row.observe ? await row.observe(c, res) : outcome(res.status);
  }
  return got;
}

/** Every `METHOD path` registered in the given files (under src/http/routes unless a path is given). */
export function routesIn(...files: string[]): Set<string> {
  const found = new Set<string>();
  for (const f of files) {
    const file = f.includes('/') ? join(REPO, f) : join(REPO, 'src', 'http', 'routes', f);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(?:app|scope)\.(get|post|put|delete|patch|all)(?:<[^(]*>)?\('([^']+)'/g)) found.add(`${m[1].toUpperCase()} ${m[2]}`);
    // The object form, route({ method: [...], url }), as one entry 'GET|PUT /path'.
    for (const m of source.matchAll(/(?:app|scope)\.route(?:<[^(]*>)?\(\{\s*method:\s*\[([^\]]*)\],\s*url:\s*'([^']+)'/g)) found.add(`${[...m[1].matchAll(/'([A-Z]+)'/g)].map((x) => x[1]).join('|')} ${m[2]}`);
  }
  return found;
}

/** Fails naming each route of `files` with no row, and each row that is no route. */
export function assertEveryRouteHasARow(rows: Array<{ route: string }>, ...files: string[]) {
  const found = routesIn(...files);
  const tabled = new Set(rows.map((r) => r.route));
  assert.deepEqual([...found].filter((r) => !tabled.has(r)).sort(), [], `routes of ${files.join(', ')} with no row in the authorization matrix`);
  assert.deepEqual([...tabled].filter((r) => !found.has(r)).sort(), [], 'rows for routes that do not exist');
}

/** A governance envelope signed with the caller's own key ('not signed' for a caller with none). */
export function signedBy(id: Identity, payload: unknown, type: GovMessageType = 'proposal', extra: { proposalId?: string; createdAt?: number } = {}): Buffer {
  if (!id.key || !id.cert) return Buffer.from('not signed');
  return signCoseSign1({ key: createPrivateKey(id.key), kid: certIdOfPem(id.cert), type, proposalId: extra.proposalId, createdAt: extra.createdAt, payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)) });
}

/** The CCF error code of a JSON error reply, else its status (or 'ok'). */
export function errorCodeOf(res: HttpsReply): Expected {
  if (res.status >= 200 && res.status < 300) return 'ok';
  try {
    return `${res.status} ${res.json().error.code}`;
  } catch {
    return res.status;
  }
}
