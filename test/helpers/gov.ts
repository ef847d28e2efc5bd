import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { certIdOfPem } from '../../src/crypto/certificates.js';
import { type GovMessageType, signCoseSign1 } from '../../src/crypto/cose.js';
import assert from 'node:assert/strict';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import type { TestNode } from './cli.js';
import { https } from './https-client.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

export const API = 'api-version=2024-07-01';

/** A member as a governance client: signs COSE Sign1 envelopes with its own key and posts them. */
export function member(node: TestNode, name: string) {
  const base = join(identitiesDirOf(node.dir), name);
  const cert = readFileSync(join(base, 'cert.pem'), 'utf8');
  const keyPem = readFileSync(join(base, 'key.pem'), 'utf8');
  const id = certIdOfPem(cert);
  const tls = { cert, key: keyPem, ca: node.ca };
  const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}${path.includes('?') ? '&' : '?'}${API}`;
  const sign = (type: GovMessageType, payload: unknown, extra: { proposalId?: string; createdAt?: number; kid?: string } = {}) =>
    signCoseSign1({ key: createPrivateKey(keyPem), kid: extra.kid ?? id, type, payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)), proposalId: extra.proposalId, createdAt: extra.createdAt });
  const post = (path: string, body: Buffer) => https(url(path), tls, { method: 'POST', body, headers: { 'content-type': 'application/cose' } });
  return {
    id,
    name,
    sign,
    post,
    get: (path: string) => https(url(path), tls),
    propose: (proposal: unknown, extra = {}) => post('/gov/members/proposals:create', sign('proposal', proposal, extra)),
    vote: (proposalId: string, ballot: string, extra = {}) => post(`/gov/members/proposals/${proposalId}/ballots/${id}:submit`, sign('ballot', { ballot }, { proposalId, ...extra })),
    withdraw: (proposalId: string) => post(`/gov/members/proposals/${proposalId}:withdraw`, sign('withdrawal', '', { proposalId })),
  };
}

/** m0 proposes `actions`, m0 and m1 vote yes (the default constitution's majority of three), and it must pass. */
export async function passProposal(node: TestNode, actions: unknown[]) {
  const [m0, m1] = [member(node, 'm0'), member(node, 'm1')];
  const p = (await m0.propose({ actions })).json();
  await m0.vote(p.proposalId, ACCEPT_BALLOT);
  const r = (await m1.vote(p.proposalId, ACCEPT_BALLOT)).json();
  assert.equal(r.proposalState, 'Accepted', JSON.stringify(r));
}
