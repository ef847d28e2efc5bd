import { Command, CommanderError } from 'commander';
import { TesseraError } from '../errors/index.js';
import { VERSION } from '../node/version.js';
import { registerInit } from './commands/init.js';
import { registerServe } from './commands/serve.js';
import { registerUser } from './commands/user.js';
import { registerAudit, registerMeasure } from './commands/audit.js';
import { registerFile } from './commands/file.js';
import { registerTask } from './commands/task.js';
import { registerLedger } from './commands/ledger.js';
import { registerGov } from './commands/gov.js';
import { registerWorkflow } from './commands/workflow.js';
import { registerFn } from './commands/fn.js';
import { registerApp } from './commands/app.js';
import { registerFunction } from './commands/function.js';
import { registerStatus } from './commands/status.js';

// Everything Tessera writes (the data directory, its database, WAL, blobs, keys, downloads) is for its
// owner alone: files 0600, directories 0700, whatever the caller's umask.
process.umask(0o077);

const program = new Command('tessera')
  .version(VERSION)
  .description('Tessera: a confidential function platform (MesaTEE, EDGELESS, Fn and CCF compatible)')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Getting started:
  $ tessera init --users alice,bob --members m0
  $ tessera serve
  $ tessera user add carol`,
  );

registerInit(program);
registerServe(program);
registerUser(program);
registerMeasure(program);
registerAudit(program);
registerFile(program);
registerTask(program);
registerLedger(program);
registerGov(program);
registerWorkflow(program);
registerFn(program);
registerApp(program);
registerFunction(program);
registerStatus(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const known = err instanceof TesseraError || (err as Error)?.name === 'ApiError';
  const message = known ? (err as Error).message : (err as Error)?.stack ?? String(err);
  console.error(`tessera: ${message}`);
  process.exit(1);
}
