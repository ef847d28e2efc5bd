// Resource classes a node with the default tessera.toml does not offer are refused by name, with the
// setting that would offer them: redis (no allowed_urls), file-pusher (no directory), and kafka-egress,
// which Tessera does not implement (no Kafka broker could be run to test it against).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../../helpers/cli.js';
import { jsFunction, workflowClient } from '../../helpers/workflows.js';

let node: TestNode;
let alice: ReturnType<typeof workflowClient>;
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.workflows = { resources: { kafka_egress: { brokers: ['127.0.0.1:9092'] } } }) });
  alice = workflowClient(node, 'alice');
});
after(() => node?.cleanup());

const COUNTER = `export function handle_init() { edgeless.cast('output', '1'); }`;

describe('resource classes this node does not offer', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['redis', { url: 'redis://127.0.0.1:6379/', key: 'k' }, /resource 'r' has class 'redis', which this node does not offer \(workflows\.resources\.redis\.allowed_urls is empty\)/],
    ['file-pusher', { 'period-ms': '1000' }, /resource 'r' has class 'file-pusher', which this node does not offer \(workflows\.resources\.file_pusher\.directory is empty\)/],
    // EDGELESS's examples/kafka_egress/workflow.json's resource, although the operator names brokers
    ['kafka-egress', { brokers: 'localhost:9092', topic: 'test' }, /resource 'r' has class 'kafka-egress', which this node does not offer \(kafka-egress is not offered by this node: Tessera has no Kafka producer yet, because no Kafka broker could be run to test one against/],
  ];
  for (const [cls, configurations, message] of cases) {
    test(cls, async () => {
      const spec = { functions: [jsFunction('counter', COUNTER, { output: 'r' })], resources: [{ name: 'r', class_type: cls, output_mapping: {}, configurations }] };
      const r = await alice.start(spec, `no-${cls}`);
      assert.equal(r.status, 400, r.body.toString());
      assert.match(r.json().error.message, message);
      assert.deepEqual((await alice.list()).json().workflows, []);
    });
  }
});
