import { TesseraError } from '../../errors/index.js';
import type { ResourceClass } from './types.js';

/** Why this node does not offer kafka-egress (tessera.toml cannot change it). */
export const KAFKA_UNAVAILABLE =
  'kafka-egress is not offered by this node: Tessera has no Kafka producer yet, because no Kafka broker could be run to test one against (Debian packages neither Kafka nor Redpanda); EDGELESS itself builds it only with the rdkafka feature';

/**
 * kafka-egress (EDGELESS resources/kafka_egress.rs): known by name, so a workflow naming it is refused with
 * the reason, whatever workflows.resources.kafka_egress.brokers says.
 */
export const kafkaEgress: ResourceClass = {
  classType: 'kafka-egress',
  unavailable: () => KAFKA_UNAVAILABLE,
  start: async () => {
    throw new TesseraError('invalid_input', KAFKA_UNAVAILABLE);
  },
};
