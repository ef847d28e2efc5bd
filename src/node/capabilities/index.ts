import type { Capability } from '../capability.js';
import { appsCapability } from './apps.js';
import { filesCapability, kmsCapability } from './files.js';
import { fnCapability } from './fn.js';
import { functionsCapability } from './functions.js';
import { governanceCapability } from './governance.js';
import { nodeApiCapability } from './node-api.js';
import { tasksCapability } from './tasks.js';
import { workCapability } from './work.js';
import { workflowsCapability } from './workflows.js';

/**
 * What a node offers, in the order they start (each may use the services of those before it; they stop in
 * the reverse order). A fresh list for each node, since capabilities keep their own timers and handles.
 */
export const capabilities = (): Capability[] => [
  nodeApiCapability(),
  workCapability(),
  kmsCapability(),
  filesCapability(),
  functionsCapability(),
  appsCapability(),
  workflowsCapability(),
  fnCapability(),
  governanceCapability(),
  tasksCapability(),
];
