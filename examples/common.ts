// Shared by the examples: where the node is and what to trust, from the environment.
import { type AuditorInput, type ConnectOptions, loadIdentity } from 'tessera-platform';

export function connectOptions(identityDir: string): ConnectOptions {
  const id = loadIdentity(identityDir);
  if (!id.ca) throw new Error(`no ca.pem found for ${identityDir}; set TESSERA_DATA to the node's data directory`);
  const insecure = process.env.TESSERA_INSECURE === '1';
  const auditors: AuditorInput[] = (process.env.TESSERA_AUDITORS ?? '')
    .split(',')
    .filter(Boolean)
    .map((pair) => {
      const [publicKey, signatureFile] = pair.split(':');
      return { publicKey, signatureFile };
    });
  return {
    url: process.env.TESSERA_URL ?? 'https://127.0.0.1:8000',
    ca: id.ca,
    cert: id.cert,
    key: id.key,
    userId: id.userId,
    token: id.token,
    enclaveInfo: process.env.TESSERA_ENCLAVE_INFO,
    auditors,
    insecureSkipVerification: insecure,
  };
}

export const dataDir = () => process.env.TESSERA_DATA ?? './tessera-data';
/** Where `tessera init` puts the identities it issues: beside the data directory, never in it. */
export const identitiesDirOf = (data: string) => `${data.replace(/\/+$/, '')}-identities`;
