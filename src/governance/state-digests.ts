import { TesseraError } from '../errors/index.js';
import type { CoseMessage } from '../crypto/cose.js';
import type { Ledger } from '../store/ledger.js';
import type { Store } from '../store/types.js';
import { MEMBER_ACKS } from './reads.js';
import type { GovernanceService } from './service.js';

/**
 * CCF's POST /gov/members/state-digests/{memberId}:update (src/node/gov/handlers/acks.h): a member,
 * active or not yet, signs a `state_digest` message and gets the root of the latest ledger signature
 * recorded as the digest it is to acknowledge.
 */
export class StateDigests {
  constructor(private readonly opts: { store: Store; ledger: Ledger; gov: GovernanceService }) {}

  async update(msg: CoseMessage, memberId: string): Promise<{ result: { memberId: string; stateDigest: string }; seqno: number | null }> {
    const { result, seqno } = this.opts.store.transact((tx) => {
      const member = this.opts.gov.authenticate(tx, msg, 'state_digest', true);
      if (member.certId !== memberId) {
        throw new TesseraError('member_id_mismatch', `Member ID from path parameter (${memberId}) does not match member ID from body signature (${member.certId}).`);
      }
      const root = this.opts.ledger.lastSignatureRoot();
      if (root === null) throw new TesseraError('internal', 'Service has no signatures to ack yet - try again soon.');
      tx.put(MEMBER_ACKS, memberId, { ...(tx.get<object>(MEMBER_ACKS, memberId) ?? {}), state_digest: root });
      return { memberId, stateDigest: root };
    });
    return { result, seqno };
  }
}
