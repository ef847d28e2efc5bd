// Private set intersection between Alice and Bob (the seed SDK document's multi-party flow), with
// real auditor checks: each party verifies the auditors' signatures and the node's evidence before
// sending anything.
//   TESSERA_DATA=./tessera-data TESSERA_ENCLAVE_INFO=enclave_info.toml TESSERA_AUDITORS=a.pub.pem:a.sign.sha256 \
//   node --no-node-snapshot dist/examples/psi/main.js
import { join } from 'node:path';
import { Tessera } from 'tessera-platform';
import { connectOptions, dataDir, identitiesDirOf } from '../common.js';

/** Records are 32 bytes each; here, a letter repeated 32 times, as in MesaTEE's test. */
const records = (letters: string) => Buffer.from([...letters].map((l) => l.repeat(32)).join(''));

const alice = await Tessera.connect(connectOptions(join(identitiesDirOf(dataDir()), 'alice')));
const bob = await Tessera.connect(connectOptions(join(identitiesDirOf(dataDir()), 'bob')));
console.log(`both parties verified the node: ${alice.node ? `${alice.node.provider} attestation, measurement ${alice.node.measurement.mr_enclave}` : 'NOT VERIFIED'}`);

// 1. Each party uploads its own set, encrypted locally under a fresh per-file key.
const aliceFile = await alice.uploadFile(records('abde'), { fileName: 'alice-set.bin' });
const bobFile = await bob.uploadFile(records('bcd'), { fileName: 'bob-set.bin' }); // the second set is sorted
console.log(`alice uploaded ${aliceFile}; bob uploaded ${bobFile}`);

// 2. Alice creates the task naming Bob; 3. Bob approves with his file; 4. either one invokes.
const task = await alice.createTaskWithCollaborators('psi', ['bob'], [aliceFile]);
await bob.approveTaskWithFiles(task.taskId, [bobFile]);
console.log(`task ${task.taskId}: ${await task.invoke()}`);

// 5. Each reads only its own result: one byte per own record, 1 if the other party has it too.
const [aliceResult] = await alice.getTaskResults(task.taskId);
const [bobResult] = await bob.getTaskResults(task.taskId);
const a = [...(await alice.readFile(aliceResult))];
const b = [...(await bob.readFile(bobResult))];
console.log(`alice [a,b,d,e] → ${JSON.stringify(a)}`);
console.log(`bob   [b,c,d]   → ${JSON.stringify(b)}`);
alice.close();
bob.close();
if (JSON.stringify(a) !== '[0,1,1,0]' || JSON.stringify(b) !== '[1,0,1]') {
  console.error('unexpected result');
  process.exit(1);
}
console.log('psi: ok');
