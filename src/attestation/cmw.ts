import * as asn1js from 'asn1js';
import { TesseraError } from '../errors/index.js';

// How the evidence rides in the node's TLS certificate: a RATS Conceptual Message Wrapper (CMW, RFC 9999)
// in the X.509 extension id-pe-cmw that RFC registers, the way RATS's attested-TLS work carries evidence.
// The extension's value is `CMW ::= CHOICE { json UTF8String, cbor OCTET STRING }`; Tessera writes the JSON
// form, one record:
//   ["application/vnd.tessera.evidence+json", base64url(evidence JSON), 4]
// where 4 is the conceptual-message indicator for Evidence. A generic RATS verifier can find and unwrap it
// by the registered extension and dispatch on the media type; the content is Tessera's envelope around the
// vendor's report (docs/trust-model.md says why the envelope stays).

/** id-pe-cmw (RFC 9999). */
export const CMW_OID = '1.3.6.1.5.5.7.1.35';
/** Where Tessera's nodes put the evidence before it moved into a CMW (a private arc); still read, never written. */
export const LEGACY_EVIDENCE_OID = '1.3.6.1.4.1.59999.1.1';
export const EVIDENCE_MEDIA_TYPE = 'application/vnd.tessera.evidence+json';
/** The CMW indicator bit for Evidence (RFC 9999: bit 2). */
const EVIDENCE_INDICATOR = 4;

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

/** The extension value: a DER UTF8String holding the JSON record. */
export function wrapEvidence(evidenceJson: Buffer): Buffer {
  const record = JSON.stringify([EVIDENCE_MEDIA_TYPE, evidenceJson.toString('base64url'), EVIDENCE_INDICATOR]);
  return Buffer.from(new asn1js.Utf8String({ value: record }).toBER());
}

/** The evidence JSON out of an id-pe-cmw extension value, refusing any other shape with what it found. */
export function unwrapEvidence(extensionValue: Buffer): Buffer {
  const parsed = asn1js.fromBER(new Uint8Array(extensionValue));
  if (parsed.offset === -1 || parsed.offset !== extensionValue.length) throw fail('the id-pe-cmw extension of the node certificate is not one DER value');
  if (parsed.result instanceof asn1js.OctetString) throw fail('the node certificate carries a CBOR CMW; Tessera reads the JSON form (a UTF8String)');
  if (!(parsed.result instanceof asn1js.Utf8String)) throw fail('the id-pe-cmw extension of the node certificate is neither a JSON (UTF8String) nor a CBOR (OCTET STRING) CMW');
  let record: unknown;
  try {
    record = JSON.parse(parsed.result.getValue());
  } catch {
    throw fail('the CMW in the node certificate is not valid JSON');
  }
  if (!Array.isArray(record) || record.length < 2 || record.length > 3 || typeof record[0] !== 'string' || typeof record[1] !== 'string') {
    throw fail('the CMW in the node certificate is not a record [type, value, indicator]');
  }
  if (record[0] !== EVIDENCE_MEDIA_TYPE) throw fail(`the CMW in the node certificate is '${record[0]}', not Tessera evidence (${EVIDENCE_MEDIA_TYPE})`);
  if (record.length === 3 && record[2] !== EVIDENCE_INDICATOR) throw fail(`the CMW in the node certificate is not marked as Evidence (indicator ${String(record[2])})`);
  if (!/^[A-Za-z0-9_-]*$/.test(record[1])) throw fail('the CMW value in the node certificate is not base64url');
  return Buffer.from(record[1], 'base64url');
}
