// EDGELESS's placement annotations (edgeless_orc/src/deployment_requirements.rs): a Tessera node runs a
// workflow whole, so each annotation is either satisfied by this node or the start is refused, naming it;
// nothing is accepted and ignored. Tessera's own annotations keep working.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { checkPlacement } from '../../src/workflows/annotations.js';
import { checkWorkflow } from '../../src/workflows/spec.js';
import { type TestNode, startNode, useEphemeralPorts } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';
import { jsFunction, workflowClient } from '../helpers/workflows.js';

let node: TestNode;
let alice: ReturnType<typeof workflowClient>;
let bob: ReturnType<typeof workflowClient>;
let info: { node_id: string; labels: string[]; resource_providers: string[]; attestation_provider: string; tee: boolean; tpm: boolean };
before(async () => {
  node = await startNode({ users: ['alice', 'bob'], config: (c) => (c.workflows = { ...(c.workflows ?? {}), labels: ['region=eu', 'tier=edge'] }) });
  alice = workflowClient(node, 'alice');
  bob = workflowClient(node, 'bob');
  const r = await https(`https://127.0.0.1:${node.ports.https}/v1/workflow-node`, { ...node.identity('alice'), ca: node.ca });
  assert.equal(r.status, 200, r.body.toString());
  info = r.json();
});
after(() => node.cleanup());

const IDLE = 'export function handle_cast() {}';
/** A workflow of one function `f` (class id `cls`) with these annotations. */
const one = (annotations: Record<string, string>, cls = 'f') => ({ functions: [{ ...jsFunction('f', IDLE, {}, annotations), class_specification: { ...jsFunction('f', IDLE).class_specification, id: cls } }], resources: [] });

let n = 0;
/** Starts a spec; expects a refusal with this status whose message matches, and that nothing is listed. */
async function refused(spec: unknown, status: number, message: RegExp) {
  const name = `refused-${n++}`;
  const r = await alice.start(spec, name);
  assert.equal(r.status, status, r.body.toString());
  assert.match(r.json().error.message, message);
  assert.ok(!(await alice.list()).json().workflows.some((w: { name: string }) => w.name === name), 'a refused workflow is listed');
}
async function starts(spec: unknown, name = `ok-${n++}`): Promise<string> {
  const r = await alice.start(spec, name);
  assert.equal(r.status, 201, r.body.toString());
  return r.json().workflow_id;
}

describe('the node as placement sees it', () => {
  test('GET /v1/workflow-node: a stable UUID, the labels with hostname=, providers, the attestation provider', async () => {
    assert.match(info.node_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(info.labels, ['region=eu', `hostname=${hostname()}`, 'tier=edge'].sort());
    assert.ok(info.resource_providers.includes('file-log') && info.resource_providers.includes(`${hostname()}-http-ingress`), info.resource_providers.join());
    assert.equal(info.attestation_provider, 'software');
    assert.equal(info.tee, false);
  });

  test("instances see the same node id in slf(), and it survives a restart", async () => {
    const SELF = `export function handle_init() { edgeless.cast('log', edgeless.slf().node_id); }`;
    const spec = { functions: [jsFunction('who', SELF, { log: 'log' })], resources: [{ name: 'log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'who.log' } }] };
    const id = await starts(spec, 'who');
    const line = await alice.until(async () => {
      const f = await alice.file('who', 'who.log');
      return f.status === 200 && f.json().content ? f.json().content : undefined;
    }, 'the node id in who.log');
    assert.equal(line, `${info.node_id}\n`);
    assert.equal((await alice.stop(id)).status, 200);
    await node.restart();
    const again = await https(`https://127.0.0.1:${node.ports.https}/v1/workflow-node`, { ...node.identity('alice'), ca: node.ca });
    assert.equal(again.json().node_id, info.node_id);
  });
});

describe('node_id_match_any', () => {
  test("honoured: a list naming this node starts; one naming only others is refused as 'no valid node found'", async () => {
    await starts(one({ node_id_match_any: `00000000-0000-0000-0000-000000000001,${info.node_id}` }));
    await refused(one({ node_id_match_any: '00000000-0000-0000-0000-000000000001' }), 400, /function 'f': no valid node found: annotation node_id_match_any \(00000000-0000-0000-0000-000000000001\) does not name this node/);
  });
  test('an invalid UUID is refused, not dropped', async () => {
    await refused(one({ node_id_match_any: `${info.node_id},not-a-uuid` }), 400, /annotation node_id_match_any must be node UUIDs separated by commas; 'not-a-uuid' is not a UUID/);
  });
});

describe('label_match_all', () => {
  test('satisfied by configured labels and hostname=<host>', async () => {
    await starts(one({ label_match_all: 'region=eu,tier=edge' }));
    await starts(one({ label_match_all: `hostname=${hostname()}` }));
  });
  test('refused when a label is missing, naming it', async () => {
    await refused(one({ label_match_all: 'region=eu,gpu=yes' }), 400, /no valid node found: annotation label_match_all asks for 'gpu=yes', which this node does not have/);
  });
});

describe('resource_match_all', () => {
  test('satisfied by an offered class, by class_type or <hostname>-<class_type>; refused otherwise', async () => {
    await starts(one({ resource_match_all: `file-log,${hostname()}-http-egress` }));
    await refused(one({ resource_match_all: 'redis-1' }), 400, /no valid node found: annotation resource_match_all asks for 'redis-1', which this node does not offer/);
  });
  test('on a resource, in its configurations, the same', async () => {
    const spec = (configurations: Record<string, string>) => ({ functions: [], resources: [{ name: 'log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'x.log', ...configurations } }] });
    await starts(spec({ resource_match_all: 'file-log', label_match_all: 'region=eu' }));
    await refused(spec({ label_match_all: 'region=us' }), 400, /resource 'log' \(file-log\): no valid node found: annotation label_match_all asks for 'region=us'/);
  });
});

describe('tee and tpm', () => {
  test('tee=required is refused on a software-attested node, naming the annotation and the provider', async () => {
    await refused(one({ tee: 'required' }), 400, /function 'f': no valid node found: annotation tee=required asks for a hardware TEE, and this node's attestation provider is 'software'/);
    await refused(one({ tee: 'Required' }), 400, /tee=required/);
    await starts(one({ tee: 'not-required' }));
    await refused(one({ tee: 'yes' }), 400, /annotation tee must be 'required' or 'not-required', not 'yes'/);
  });
  test('tee=required is satisfied by a hardware provider (sev-snp, tdx)', () => {
    const spec = checkWorkflow(one({ tee: 'required' }));
    for (const attestation of ['sev-snp', 'tdx']) checkPlacement(spec, { nodeId: info.node_id, hostname: 'h', labels: [], attestation }, new Set());
    assert.throws(() => checkPlacement(spec, { nodeId: info.node_id, hostname: 'h', labels: [], attestation: 'software' }, new Set()), /tee=required/);
  });
  test('tpm=required is refused: Tessera has no TPM support', async () => {
    await refused(one({ tpm: 'required' }), 400, /no valid node found: annotation tpm=required asks for a TPM, and Tessera has no TPM support/);
  });
});

describe('max_instances', () => {
  test('bounds the instances of a function class one owner runs on this node, across workflows', async () => {
    const a = await starts(one({ max_instances: '1' }, 'bounded'), 'bounded-a');
    await refused(one({}, 'bounded'), 409, /function class 'bounded' would have 2 instances on this node, over max_instances 1 \(annotation of function 'f' of a running workflow of yours\)/);
    await refused(one({ max_instances: '1' }, 'bounded'), 409, /over max_instances 1/);
    // another owner's instances are theirs
    assert.equal((await bob.start(one({ max_instances: '1' }, 'bounded'), 'bounded-b')).status, 201);
    assert.equal((await alice.stop(a)).status, 200);
    await starts(one({ max_instances: '1' }, 'bounded'), 'bounded-c');
  });
  test('within one workflow; 0 is no bound', async () => {
    const two = (max: string, count: number) => ({ functions: Array.from({ length: count }, (_, i) => ({ ...jsFunction(`w${i}`, IDLE, {}, { max_instances: max }), class_specification: { ...jsFunction('w', IDLE).class_specification, id: `pool-${max}-${count}` } })), resources: [] });
    await starts(two('2', 2));
    await refused(two('2', 3), 409, /function class 'pool-2-3' would have 3 instances on this node, over max_instances 2 \(annotation of function 'w0' of this workflow\)/);
    await starts(two('0', 3));
  });
  test('a value that is not a non-negative integer is refused', async () => {
    for (const v of ['many', '-1', '1.5', '']) await refused(one({ max_instances: v }), 400, new RegExp(`function 'f': annotation max_instances must be a non-negative integer \\(0: no bound\\), not '${v.replace('.', '\\.')}'`));
  });
});

describe('other annotations', () => {
  test("an unknown function annotation is refused with the known ones; Tessera's own still work", async () => {
    await refused(one({ 'max-instances': '1' }), 400, /function 'f': unknown annotation 'max-instances' \(known: init-payload, state-key, state-policy, event-timeout-ms, max_instances, node_id_match_any, label_match_all, resource_match_all, tee, tpm\)/);
    await starts(one({ 'init-payload': 'x', 'state-key': 'k', 'state-policy': 'transient', 'event-timeout-ms': '1000' }));
    await refused(one({ 'state-policy': 'durable' }), 400, /annotation state-policy must be 'transient'/);
  });
  test('workflow-level annotations are refused (EDGELESS ignores them); empty ones are fine', async () => {
    await refused({ ...one({}), annotations: { tee: 'required' } }, 400, /workflow-level annotations \(tee\) are not supported/);
    await starts({ ...one({}), annotations: {} });
  });
  test("a resource's own configuration keys are not annotations", async () => {
    await starts({ functions: [], resources: [{ name: 'log', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'y.log', 'add-timestamp': 'true' } }] });
  });
});

describe('after a restart', () => {
  test('a workflow whose placement the node no longer satisfies is not brought back, nor left listed', async () => {
    await starts(one({ label_match_all: 'region=eu' }), 'eu-only');
    await starts(one({ label_match_all: 'tier=edge' }), 'edge-only');
    // the operator drops the region label
    useEphemeralPorts(node.dir, (c) => (c.workflows.labels = ['tier=edge']));
    await node.restart();
    const names = (await alice.list()).json().workflows.map((w: { name: string }) => w.name);
    assert.ok(names.includes('edge-only'), names.join());
    assert.ok(!names.includes('eu-only'), 'a workflow asking for a label the node lost is still listed');
    assert.match(node.logs(), /no valid node found: annotation label_match_all asks for 'region=eu'/);
  });
});
