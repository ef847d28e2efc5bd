import { type KeyService, keyConfigJson } from '../kms/service.js';
import { type MessageHandler, exactObject, str, tagged } from './dispatch.js';

/** KMS (6016), for services: Create, Get and Delete of file keys, base64 with padding as in MesaTEE. */
export function kms(keys: KeyService): MessageHandler {
  return tagged('KMS', {
    Create: {
      schema: exactObject({}),
      handler: () => {
        const { keyId, config } = keys.create();
        return { type: 'Create', key_id: keyId, config: keyConfigJson(config) };
      },
    },
    Get: {
      schema: exactObject({ key_id: str }),
      handler: (req: { key_id: string }) => ({ type: 'Get', config: keyConfigJson(keys.get(req.key_id)) }),
    },
    Delete: {
      schema: exactObject({ key_id: str }),
      handler: (req: { key_id: string }) => ({ type: 'Delete', config: keyConfigJson(keys.delete(req.key_id)) }),
    },
  });
}
