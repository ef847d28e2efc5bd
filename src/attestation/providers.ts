import { TesseraError } from '../errors/index.js';
import type { AttestationProvider, ProviderName } from './evidence.js';
import { sevSnpProvider } from './sev-snp.js';
import { softwareProvider } from './software.js';
import { tdxProvider } from './tdx.js';

export interface ProviderSettings {
  provider: ProviderName;
  tsm_dir: string;
  sev_snp_cert_chain: string;
}

export function createProvider(settings: ProviderSettings, platformKeyPath: string): AttestationProvider {
  switch (settings.provider) {
    case 'software':
      return softwareProvider(platformKeyPath);
    case 'sev-snp':
      return sevSnpProvider({ tsmDir: settings.tsm_dir, certChainFile: settings.sev_snp_cert_chain || undefined });
    case 'tdx':
      return tdxProvider({ tsmDir: settings.tsm_dir });
    default:
      throw new TesseraError('invalid_input', `unknown attestation provider '${settings.provider as string}'`);
  }
}
