import { Command } from 'commander';
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
import { registerBackup } from './commands/backup.js';
import { registerContext } from './commands/context.js';
import { registerCompletion } from './commands/completion.js';
import { fail } from './failure.js';
import { registerFunction } from './commands/function.js';
import { registerStatus } from './commands/status.js';
import { registerCluster } from './commands/cluster.js';

// Everything Tessera writes (the data directory, its database, WAL, blobs, keys, downloads) is for its
// owner alone: files 0600, directories 0700, whatever the caller's umask.
process.umask(0o077);

const program = new Command('tessera')
  .version(VERSION)
  .description('Tessera: a confidential function platform (MesaTEE, EDGELESS, Fn and CCF compatible)')
  .showHelpAfterError()
  // Usage errors end with exit code 2, not commander's 1 (failure.ts, docs/cli.md): commander throws
  // instead of exiting, and every subcommand inherits this, being made after it.
  .exitOverride()
  .option('--debug', 'print the stack trace of a failure (or TESSERA_DEBUG=1)')
  .addHelpText(
    'after',
    `
Examples: getting started, in order
  $ tessera init --users alice,bob --members m0
  $ tessera serve
  $ tessera user add carol
  $ tessera file list -i ./tessera-data-identities/alice --insecure-skip-verification

Which node, with what: flags, then TESSERA_* variables, then the current context
(tessera context use NAME), then the node running on ./tessera-data (its node.json).
Exit codes: 0 ok, 1 failure, 2 usage, 3 no node answers, 4 verification failed, 5 a port is taken.
See docs/cli.md; shell completion: tessera completion bash|zsh.`,
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
registerBackup(program);
registerContext(program);
registerCompletion(program);
registerFunction(program);
registerStatus(program);
registerCluster(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  fail(err);
}
