import type { ResourceClass } from './types.js';
import { ERR } from './types.js';

/**
 * http-ingress: the node's /ingress listener delivers matching requests to what `new_request` maps to
 * (WorkflowService.handleIngress, from the routes each workflow claims). It takes no events itself.
 */
export const httpIngress: ResourceClass = {
  classType: 'http-ingress',
  unavailable: () => null,
  start: async () => ({ cast: () => {}, call: () => ERR }),
};
