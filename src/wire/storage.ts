import { TesseraError } from '../errors/index.js';
import { type MessageHandler, exactObject, str, strList, u32, tagged } from './dispatch.js';

// The KMS and TDFS listeners accept every message of the MesaTEE docs in its exact shape. The
// key and file services behind them are not built yet, so a well-formed request is answered
// with FunctionNotSupportedError instead of a guess; a malformed one gets the precise
// InvalidInputError, as on every listener.

const credentials = { user_id: str, user_token: str };

const notYet = (service: string) => () => {
  throw new TesseraError('unsupported_function', `${service} is not available on this node yet: the encrypted key and file services are still to come`);
};

export function kms(): MessageHandler {
  const handler = notYet('the key service (KMS)');
  return tagged('KMS', {
    Create: { schema: exactObject({}), handler },
    Get: { schema: exactObject({ key_id: str }), handler },
    Delete: { schema: exactObject({ key_id: str }), handler },
  });
}

export function tdfsExternal(): MessageHandler {
  const handler = notYet('the file store (TDFS)');
  return tagged('TDFS', {
    Create: { schema: exactObject({ file_name: str, sha256: str, file_size: u32, ...credentials }), handler },
    Get: { schema: exactObject({ file_id: str, ...credentials }), handler },
    List: { schema: exactObject(credentials), handler },
    Delete: { schema: exactObject({ file_id: str, ...credentials }), handler },
  });
}

export function tdfsInternal(): MessageHandler {
  const handler = notYet('the file store (TDFS)');
  return tagged('TDFS internal', {
    Create: {
      schema: exactObject({ sha256: str, file_size: u32, user_id: str, task_id: str, collaborator_list: strList, allow_policy: u32 }),
      handler,
    },
    Get: { schema: exactObject({ file_id: str }), handler },
  });
}
