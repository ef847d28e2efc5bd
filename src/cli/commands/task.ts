import type { Command } from 'commander';
import { type ClientFlags, clientOptions, withClient } from '../client.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerTask(program: Command) {
  const task = program
    .command('task')
    .description('Tasks: create, approve, invoke, inspect')
    .addHelpText(
      'after',
      `
Examples:
  $ tessera task create echo                                      # prints the task id
  $ tessera task invoke <task-id> --payload hello
  $ tessera task create psi --collaborator bob --file <alice-file-id>
  $ tessera task approve <task-id> --file <bob-file-id>           # as bob
  $ tessera task results <task-id>`,
    );

  clientOptions(task.command('create <function>'))
    .description('Create a task; prints its id')
    .option('--collaborator <user>', 'a collaborator who must approve; repeat for each', collect, [])
    .option('--file <id>', 'one of your input files; repeat for each', collect, [])
    .addHelpText('after', '\nExample:\n  $ tessera task create psi --collaborator bob --file 0a9ca5ac-2150-4bdd-ab63-c2c12252e747')
    .action(async (fn: string, flags: ClientFlags & { collaborator: string[]; file: string[] }) => {
      const t = await withClient(flags, (c) => c.createTaskWithCollaborators(fn, flags.collaborator, flags.file));
      console.log(t.taskId);
    });

  clientOptions(task.command('approve <id>'))
    .description('Approve a task as a collaborator, contributing your files')
    .option('--file <id>', 'one of your files; repeat for each', collect, [])
    .addHelpText('after', '\nExample:\n  $ tessera task approve 5ef0cfc7-11e9-445a-8c46-23790ea86819 --file b76f9ee2-63d2-43bd-a722-466792af7035')
    .action(async (id: string, flags: ClientFlags & { file: string[] }) => {
      const r = await withClient(flags, (c) => c.approveTaskWithFiles(id, flags.file));
      console.log(`approved; the task is ${r.status}`);
    });

  clientOptions(task.command('invoke <id>'))
    .description('Run a Ready task and print its result')
    .option('--payload <text>', 'the payload')
    .addHelpText('after', '\nExample:\n  $ tessera task invoke b77f124b-f790-4af5-93de-cd1ec8946c25 --payload echo_payload')
    .action(async (id: string, flags: ClientFlags & { payload?: string }) => {
      console.log(await withClient(flags, async (c) => (await c.task(id)).invoke(flags.payload)));
    });

  clientOptions(task.command('get <id>'))
    .description("Show a task's status, parties and results")
    .option('--json', 'print the task info as JSON')
    .addHelpText('after', '\nExample:\n  $ tessera task get b77f124b-f790-4af5-93de-cd1ec8946c25 --json')
    .action(async (id: string, flags: ClientFlags & { json?: boolean }) => {
      const t = await withClient(flags, (c) => c.getTask(id));
      if (flags.json) return console.log(JSON.stringify(t, null, 2));
      console.log(`task      ${id}`);
      console.log(`function  ${t.function_name} (${t.function_type})`);
      console.log(`status    ${t.status}`);
      console.log(`creator   ${t.user_id}`);
      for (const c of t.collaborator_list) console.log(`with      ${c.user_id}${c.approved ? ' (approved)' : ' (not yet approved)'}`);
      for (const f of t.user_private_result_file_id) console.log(`result    ${f} (yours)`);
      if (t.task_result_file_id) console.log(`result    ${t.task_result_file_id} (shared)`);
    });

  clientOptions(task.command('results <id>'))
    .description('Print your result file ids: private ones, then the shared one')
    .addHelpText('after', '\nExample:\n  $ tessera task results 5ef0cfc7-11e9-445a-8c46-23790ea86819')
    .action(async (id: string, flags: ClientFlags) => {
      for (const f of await withClient(flags, (c) => c.getTaskResults(id))) console.log(f);
    });

  clientOptions(task.command('list'))
    .description('List the tasks you created or collaborate on')
    .addHelpText('after', '\nExample:\n  $ tessera task list')
    .action(async (flags: ClientFlags) => {
      for (const id of await withClient(flags, (c) => c.listTasks())) console.log(id);
    });
}
