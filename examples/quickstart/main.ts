// Quickstart: one single-party echo task, the MesaTEE quickstart in TypeScript.
//   TESSERA_DATA=./tessera-data TESSERA_ENCLAVE_INFO=enclave_info.toml TESSERA_AUDITORS=a.pub.pem:a.sign.sha256 \
//   node --no-node-snapshot dist/examples/quickstart/main.js
import { join } from 'node:path';
import { Tessera } from 'tessera-platform';
import { connectOptions, dataDir, identitiesDirOf } from '../common.js';

const alice = await Tessera.connect(connectOptions(join(identitiesDirOf(dataDir()), 'alice')));
console.log(`connected; node measurement ${alice.node?.measurement.mr_enclave ?? '(not verified)'}`);
const task = await alice.createTask('echo');
console.log(`created task ${task.taskId}`);
const result = await task.invoke('echo_payload');
console.log(`result: ${result}`);
console.log(`status: ${(await alice.getTask(task.taskId)).status}`);
alice.close();
if (result !== 'echo_payload') process.exit(1);
