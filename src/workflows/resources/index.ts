import { TesseraError } from '../../errors/index.js';
import type { WorkflowResource } from '../spec.js';
import { fileLog } from './file-log.js';
import { filePusher } from './file-pusher.js';
import { httpEgress } from './http-egress.js';
import { httpIngress } from './http-ingress.js';
import { httpPoster } from './http-poster.js';
import { kafkaEgress } from './kafka-egress.js';
import { redis } from './redis.js';
import { serverlessClasses } from './serverless.js';
import { sqlx } from './sqlx.js';
import type { ResourceClass, ResourceSettings } from './types.js';

export type { ResourceClass, ResourceContext, ResourceInstance, ResourceSettings } from './types.js';

/** Every resource class Tessera implements; tessera.toml decides which of them a node offers. */
export const RESOURCE_CLASSES: ResourceClass[] = [httpIngress, httpEgress, fileLog, redis, httpPoster, filePusher, kafkaEgress, sqlx];

/**
 * The classes this node offers, by class_type: Tessera's, then the serverless classes the operator names in
 * workflows.resources.serverless (a class_type Tessera already has keeps Tessera's class).
 */
export function offeredClasses(settings: ResourceSettings): Map<string, ResourceClass> {
  const classes = [...RESOURCE_CLASSES, ...serverlessClasses(settings).filter((c) => !RESOURCE_CLASSES.some((t) => t.classType === c.classType))];
  return new Map(classes.filter((c) => c.unavailable(settings) === null).map((c) => [c.classType, c]));
}

/** Refuses, by name, a resource whose class this node does not offer, before anything starts. */
export function checkResourceClasses(resources: WorkflowResource[], settings: ResourceSettings): void {
  const offered = offeredClasses(settings);
  for (const r of resources) {
    if (offered.has(r.class_type)) continue;
    const known = RESOURCE_CLASSES.find((c) => c.classType === r.class_type);
    const why = known ? ` (${known.unavailable(settings)})` : '';
    throw new TesseraError('invalid_input', `invalid workflow: resource '${r.name}' has class '${r.class_type}', which this node does not offer${why}; it offers ${[...offered.keys()].join(', ')}`);
  }
}
