import { TesseraError } from '../errors/index.js';
import type { Principal, PrincipalService } from '../identity/principals.js';

/**
 * The external listeners' user check: `user_id` must match `user_token`, and a user's own
 * certificate must be that same user's (a service certificate may act for any user who
 * presents their token).
 */
export async function authenticateRequest(
  principals: PrincipalService,
  request: { user_id: string; user_token: string },
  caller: Principal,
): Promise<string> {
  const user = await principals.authenticateUser(request.user_id, request.user_token);
  if (caller.role === 'user' && caller.name !== user.name) {
    throw new TesseraError(
      'permission_denied',
      `the client certificate belongs to '${caller.name}' but the request names user_id '${request.user_id}'`,
    );
  }
  return user.name;
}
