// Crash safety: a real node under mixed load is killed with SIGKILL at random moments and restarted,
// TESSERA_CRASH_CYCLES times (5 here, 50 in `npm run test:long`). After each restart every acknowledged
// write must be there and correct, nothing half-written may be visible, the ledger must verify offline,
// and the node must serve again within a bound. TESSERA_CRASH_REPORT=FILE writes the counts as JSON.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { type TestNode, startNode, tessera } from '../helpers/cli.js';
import { decryptDownload, letterRecords, sha256, encryptForUpload } from '../helpers/files.js';
import { member } from '../helpers/gov.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../helpers/workflows.js';
import { type Ledger, api, emptyLedger, mixedLoad } from './load.js';

const CYCLES = Number(process.env.TESSERA_CRASH_CYCLES ?? 5);
/** How long a restarted node may take to answer again (its start, with recovery, is well under this). */
const SERVE_BOUND_MS = 30_000;

const APP = `
export function read(request) {
  const v = ccf.kv['crash'].get(ccf.strToBuf(request.params.key));
  return v === undefined ? { statusCode: 404, body: { error: 'missing' } } : { body: ccf.bufToStr(v) };
}
export function write(request) {
  ccf.kv['crash'].set(ccf.strToBuf(request.params.key), request.body.arrayBuffer());
  return { statusCode: 204 };
}`;
const COUNTER = `${HTTP_REPLY}
let count = 0;
export function handle_init(payload, state) { count = state ? JSON.parse(state).count : 0; }
export function handle_call(src, msg) { count++; edgeless.sync(JSON.stringify({ count })); return reply(200, String(count)); }`;

let node: TestNode;
let aliceFile: string;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'], members: ['m0', 'm1'], config: (c) => (c.log.level = 'warn') });
  const endpoint = (fn: string, mode: string) => ({ js_module: 'crash.js', js_function: fn, forwarding_required: 'never', authn_policies: ['user_cert'], mode });
  const bundle = { metadata: { endpoints: { '/kv/{key}': { get: endpoint('read', 'readonly'), put: endpoint('write', 'readwrite') } } }, modules: [{ name: 'crash.js', module: APP }] };
  const [m0, m1] = [member(node, 'm0'), member(node, 'm1')];
  const proposal = (await m0.propose({ actions: [{ name: 'set_js_app', args: { bundle } }] })).json();
  await m0.vote(proposal.proposalId, ACCEPT_BALLOT);
  await m1.vote(proposal.proposalId, ACCEPT_BALLOT);
  const started = await workflowClient(node).start({ functions: [jsFunction('counter', COUNTER)], resources: [ingress('counter', { host: '127.0.0.1', method: 'POST' })] }, 'counter');
  assert.equal(started.status, 201, started.body.toString());
  const alice = api(node, 'alice');
  const records = letterRecords('abcd');
  const created = (await alice.post('/v1/files', { file_name: 'alice.bin', sha256: sha256(records), file_size: records.length })).json();
  assert.equal((await alice.putRaw(created.access_path, encryptForUpload(created.key_config, records))).status, 200);
  aliceFile = created.file_id;
});
after(() => node?.cleanup());

/** How many writes from earlier cycles are checked again after each crash, chosen at random. */
const RECHECK = 60;

/**
 * Every write acknowledged in this cycle, and a random sample of earlier ones, is there and correct;
 * every unanswered upload is either whole or absent.
 */
async function check(ledger: Ledger, cycle: number): Promise<number> {
  const older = [...ledger.files.values(), ...ledger.kv.values(), ...ledger.tasks.values()].filter((w) => w.cycle < cycle).length;
  const chosen = (w: { cycle: number }) => w.cycle === cycle || Math.random() < RECHECK / Math.max(older, 1);
  const alice = api(node, 'alice');
  const bob = api(node, 'bob');
  let checked = 0;
  const download = async (who: ReturnType<typeof api>, fileId: string) => {
    const info = await who.get(`/v1/files/${fileId}`);
    if (info.status !== 200) return { status: info.status } as const;
    const blob = await who.raw(info.json().access_path);
    return { status: blob.status, plaintext: blob.status === 200 ? decryptDownload(info.json().key_config, blob.body) : null } as const;
  };
  for (const [fileId, write] of ledger.files) {
    if (!chosen(write)) continue;
    const owner = (await alice.get(`/v1/files/${fileId}`)).status === 200 ? alice : bob;
    const got = await download(owner, fileId);
    assert.equal(got.status, 200, `acknowledged file ${fileId} is downloadable`);
    assert.deepEqual(got.plaintext, write.plaintext, `acknowledged file ${fileId} has its content`);
    checked++;
  }
  for (const [fileId, write] of ledger.unansweredFiles) {
    if (write.cycle !== cycle) continue;
    for (const who of [alice, bob]) {
      const got = await download(who, fileId);
      // Dropped at restart, never uploaded, or not this user's: no bytes. Bytes: exactly the whole file.
      if (got.status === 200) assert.deepEqual(got.plaintext, write.plaintext, `file ${fileId}, completed but unanswered, is whole`);
    }
  }
  for (const [key, write] of ledger.kv) {
    if (!chosen(write)) continue;
    const got = await alice.get(`/app/kv/${key}`);
    assert.equal(got.status, 200, `acknowledged KV write ${key}: ${got.body.toString()}\n${node.logs().split("\n").filter((l) => /"level":(50|60)/.test(l)).slice(-5).join("\n")}`);
    assert.equal(got.body.toString(), write.value);
    checked++;
  }
  for (const [taskId, write] of ledger.tasks) {
    if (!chosen(write)) continue;
    const approved = write.approved;
    const got = await alice.get(`/v1/tasks/${taskId}`);
    assert.equal(got.status, 200, `acknowledged task ${taskId}`);
    if (approved) {
      assert.deepEqual(got.json().collaborator_list, [{ user_id: 'bob', approved: true }], `bob's acknowledged approval of ${taskId}`);
      assert.equal(got.json().status, 'Ready');
    }
    checked += approved ? 2 : 1;
  }
  if (ledger.counter > 0) {
    const bump = await alice.ingress('/bump', 'x');
    assert.equal(bump.status, 200, bump.body.toString());
    const count = Number(bump.body.toString());
    assert.ok(count > ledger.counter, `the workflow's synced count went on from ${ledger.counter} (got ${count})`);
    ledger.counter = count;
    checked++;
  }
  assert.deepEqual(readdirSync(join(node.dir, 'blobs', '.incoming')), [], 'no partial upload is left in blobs/.incoming');
  return checked;
}

test(`crash safety: ${CYCLES} SIGKILLs under mixed load lose no acknowledged write`, async (t) => {
  const ledger = emptyLedger();
  const totals = { cycles: 0, attempts: 0, acknowledged_writes_checked: 0, slowest_restart_ms: 0 };
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    let stopped = false;
    const load = mixedLoad(node, ledger, { cycle, aliceFile, stopped: () => stopped });
    await new Promise((resolve) => setTimeout(resolve, randomInt(150, 700)));
    // On a loaded machine a short window may acknowledge no write of some kind; the last cycle runs until
    // every kind has been acknowledged at least once (up to 30 s), so the final check means something.
    for (let waited = 0; cycle === CYCLES - 1 && waited < 30_000 && !(ledger.files.size && ledger.kv.size && ledger.tasks.size && ledger.counter); waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await node.stop('SIGKILL');
    stopped = true;
    totals.attempts += await load;

    const verified = await tessera(['ledger', 'verify', node.dir]);
    assert.equal(verified.code, 0, `cycle ${cycle}: the ledger verifies offline after the crash\n${verified.stdout}${verified.stderr}`);

    const started = performance.now();
    await node.restart();
    assert.equal((await api(node, 'alice').get('/v1/health')).status, 200);
    const restartMs = performance.now() - started;
    assert.ok(restartMs < SERVE_BOUND_MS, `cycle ${cycle}: the node served again after ${restartMs.toFixed(0)} ms`);
    totals.slowest_restart_ms = Math.max(totals.slowest_restart_ms, Math.round(restartMs));

    totals.acknowledged_writes_checked += await check(ledger, cycle);
    totals.cycles++;
  }
  const acknowledged = ledger.files.size + ledger.kv.size + ledger.tasks.size;
  t.diagnostic(`cycles ${totals.cycles}, operations attempted ${totals.attempts}, acknowledged writes ${acknowledged}, checks of acknowledged writes ${totals.acknowledged_writes_checked}, slowest restart ${totals.slowest_restart_ms} ms`);
  assert.ok(ledger.files.size > 0 && ledger.kv.size > 0 && ledger.tasks.size > 0 && ledger.counter > 0, 'every kind of write was acknowledged at least once');
  if (process.env.TESSERA_CRASH_REPORT) writeFileSync(process.env.TESSERA_CRASH_REPORT, JSON.stringify({ ...totals, acknowledged_writes: acknowledged }, null, 2));
});
