import { TesseraError } from '../errors/index.js';
import type { AttestationProvider, ProviderName } from './evidence.js';
import { sevSnpProvider } from './sev-snp.js';
import { type PlatformKeyFile, softwareProvider } from './software.js';
import { tdxProvider } from './tdx.js';

export interface ProviderSettings {
  provider: ProviderName;
  tsm_dir: string;
  sev_snp_cert_chain: string;
}

export function createProvider(settings: ProviderSettings, platformKey: PlatformKeyFile): AttestationProvider {
  switch (settings.provider) {
    case 'software':
      return softwareProvider(platformKey);
    case 'sev-snp':
      return sevSnpProvider({ tsmDir: settings.tsm_dir, certChainFile: settings.sev_snp_cert_chain || undefined });
    case 'tdx':
      return tdxProvider({ tsmDir: settings.tsm_dir });
    default:
      throw new TesseraError('invalid_input', `unknown attestation provider '${settings.provider as string}'`);
  }
}
