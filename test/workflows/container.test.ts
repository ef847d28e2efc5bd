// CONTAINER functions (EDGELESS's container runtime, documentation/container-runtime.md): this node runs
// no containers, so a workflow with one is refused, by the node and by the CLI, with a message that names
// CONTAINER and says what to do; nothing starts.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { type TestNode, startNode, tempDir, tessera } from '../helpers/cli.js';
import { workflowClient } from '../helpers/workflows.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'] });
});
after(() => node.cleanup());

/** The shape of EDGELESS's examples/container/workflow-rust.json (sensor_simulator's code is a file next to it). */
const WORKFLOW_RUST = {
  functions: [
    { name: 'sensor_simulator', class_specification: { id: 'sensor_simulator', function_type: 'JS', version: '0.1', code: 'sensor.js', outputs: ['out'] }, output_mapping: { out: 'delay' }, annotations: { 'init-payload': 'period=1000,min-value=0,max-value=20' } },
    { name: 'delay', class_specification: { id: 'delay', function_type: 'CONTAINER', version: '0.1', code: 'container:edgeless_function:latest', outputs: ['out'] }, output_mapping: { out: 'log' }, annotations: {} },
  ],
  resources: [{ name: 'log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'my-local-file.log', 'add-timestamp': 'true' } }],
  annotations: {},
};
const MESSAGE = /function 'delay' is a CONTAINER function \(container:edgeless_function:latest\): this node does not run containers\. Build the function as RUST_WASM .* or write it as JS, or run its program as a process function \(tessera fn deploy/;

test('REST: a CONTAINER function is refused by name, with what to do', async () => {
  const alice = workflowClient(node, 'alice');
  const spec = structuredClone(WORKFLOW_RUST) as any;
  spec.functions[0].class_specification.binary = Buffer.from('export function handle_cast() {}').toString('base64');
  const r = await alice.start(spec, 'container');
  assert.equal(r.status, 400, r.body.toString());
  assert.match(r.json().error.message, MESSAGE);
  assert.equal((await alice.list()).json().workflows.length, 0);
});

test('CLI: tessera workflow start on workflow-rust.json says the same, not "code file … does not exist"', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'sensor.js'), 'export function handle_cast() {}');
  writeFileSync(join(dir, 'workflow-rust.json'), JSON.stringify(WORKFLOW_RUST));
  const flags = ['-i', join(identitiesDirOf(node.dir), 'alice'), '--url', `https://127.0.0.1:${node.ports.https}`, '--insecure-skip-verification'];
  const r = await tessera(['workflow', 'start', join(dir, 'workflow-rust.json'), ...flags]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, MESSAGE);
  assert.doesNotMatch(r.stderr, /does not exist/);
});
