import type { Command } from 'commander';
import { FUNCTION_HASH_COVERS, type RegisteredFunctionInfo, type TaskInfo, type Tessera } from '../../sdk/client.js';
import { type ClientFlags, clientOptions, withClient } from '../client.js';
import { type OutputFlags, output, outputOptions } from '../output.js';

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
  $ tessera task show <task-id>                                   # as bob: the function_hash and where results go
  $ tessera task approve <task-id> --file <bob-file-id> --function-hash <hash-bob-reviewed>
  $ tessera task results <task-id>`,
    );

  clientOptions(task.command('create <function>'))
    .description('Create a task; prints its id')
    .option('--collaborator <user>', 'a collaborator who must approve; repeat for each', collect, [])
    .option('--file <id>', 'one of your input files; repeat for each', collect, [])
    .addHelpText('after', '\nExample:\n  $ tessera task create psi --collaborator bob --file <file-id>')
    .action(async (fn: string, flags: ClientFlags & { collaborator: string[]; file: string[] }) => {
      const t = await withClient(flags, (c) => c.createTaskWithCollaborators(fn, flags.collaborator, flags.file));
      console.log(t.taskId);
    });

  clientOptions(task.command('approve <id>'))
    .description('Approve a task as a collaborator, contributing your files')
    .option('--file <id>', 'one of your files; repeat for each', collect, [])
    .option('--function-hash <hash>', 'approve only if the task runs the function with this function_hash (the one you reviewed; see `tessera task show`)')
    .addHelpText(
      'after',
      `
The function_hash covers ${FUNCTION_HASH_COVERS}. The node compares it with the task's function's
when it records the approval, and refuses (nothing recorded) if they differ. A task runs only the function
with the hash it was created with, so your files go only where the function you reviewed sends them.

Examples:
  $ tessera task approve <task-id> --file <file-id> -i ./tessera-data-identities/bob   # a built-in function (psi)
  $ tessera task approve <task-id> --file <file-id> --function-hash <function-hash> \\
      -i ./tessera-data-identities/bob                         # a registered one: the hash you reviewed`,
    )
    .action(async (id: string, flags: ClientFlags & { file: string[]; functionHash?: string }) => {
      const r = await withClient(flags, (c) => c.approveTaskWithFiles(id, flags.file, { functionHash: flags.functionHash }));
      console.log(`approved; the task is ${r.status}`);
    });

  clientOptions(task.command('invoke <id>'))
    .description('Run a Ready task and print its result')
    .option('--payload <text>', 'the payload')
    .addHelpText('after', '\nExample:\n  $ tessera task invoke <task-id> --payload echo_payload')
    .action(async (id: string, flags: ClientFlags & { payload?: string }) => {
      console.log(await withClient(flags, async (c) => (await c.task(id)).invoke(flags.payload)));
    });

  outputOptions(clientOptions(task.command('get <id>')))
    .description("Show a task's status, parties and results")
    .addHelpText('after', '\nExample:\n  $ tessera task get <task-id> --json')
    .action(async (id: string, flags: ClientFlags & OutputFlags) => {
      const t = await withClient(flags, (c) => c.getTask(id));
      if (flags.json) return console.log(JSON.stringify(t, null, 2));
      if (flags.quiet) return console.log(id);
      console.log(`task      ${id}`);
      console.log(`function  ${t.function_name} (${t.function_type})`);
      if (t.function_hash) console.log(`hash      ${t.function_hash}`);
      console.log(`status    ${t.status}`);
      console.log(`creator   ${t.user_id}`);
      for (const c of t.collaborator_list) console.log(`with      ${c.user_id}${c.approved ? ' (approved)' : ' (not yet approved)'}`);
      for (const f of t.user_private_result_file_id) console.log(`result    ${f} (yours)`);
      if (t.task_result_file_id) console.log(`result    ${t.task_result_file_id} (shared)`);
    });

  outputOptions(clientOptions(task.command('show <id>')))
    .description("What a collaborator approves: the task's function_hash, what it covers, and where each result goes")
    .addHelpText(
      'after',
      `
Before approving, compare the function_hash with the one of the function you reviewed (its
\`function_hash\` in GET /v1/functions/<id>), then approve with --function-hash <that hash>.

Example:
  $ tessera task show <task-id>`,
    )
    .action(async (id: string, flags: ClientFlags & OutputFlags) => {
      const { t, fn } = await withClient(flags, async (c) => {
        const t = await c.getTask(id);
        return { t, fn: t.function_hash ? await registeredFunction(c, t.function_name) : null };
      });
      output(flags).result({ task: t, function: fn }, () => showTask(id, t, fn), { id });
    });

  outputOptions(clientOptions(task.command('results <id>')))
    .description('Print your result file ids: private ones, then the shared one')
    .addHelpText('after', '\nExamples:\n  $ tessera task results <task-id>\n  $ tessera task results <task-id> --json')
    .action(async (id: string, flags: ClientFlags & OutputFlags) => {
      output(flags).ids(await withClient(flags, (c) => c.getTaskResults(id)));
    });

  outputOptions(clientOptions(task.command('list')))
    .description('List the tasks you created or collaborate on')
    .addHelpText('after', '\nExamples:\n  $ tessera task list\n  $ tessera task list --json')
    .action(async (flags: ClientFlags & OutputFlags) => {
      output(flags).ids(await withClient(flags, (c) => c.listTasks()));
    });
}

async function registeredFunction(c: Tessera, id: string): Promise<RegisteredFunctionInfo | null> {
  try {
    return await c.getRegisteredFunction(id);
  } catch {
    return null;
  }
}

/** A task as a collaborator reviews it before approving. */
export function showTask(id: string, t: TaskInfo, fn: RegisteredFunctionInfo | null): string[] {
  const parties = [t.user_id, ...t.collaborator_list.map((c) => c.user_id)];
  const lines = [`task           ${id}`, `function       ${t.function_name} (${t.function_type})`];
  if (fn) lines.push(`registered as  ${fn.name} by ${fn.owner} (${fn.kind})`);
  if (t.function_hash === undefined) lines.push('function_hash  not given over the wire API: connect with --url to see it');
  else if (t.function_hash === null) lines.push("function_hash  none: a built-in function, part of the node's measured code");
  else {
    lines.push(`function_hash  ${t.function_hash}`);
    lines.push(`  covers       ${FUNCTION_HASH_COVERS}`);
    if (fn && fn.function_hash !== t.function_hash) lines.push(`  WARNING      the function ${t.function_name} now has function_hash ${fn.function_hash}: this task will not run`);
  }
  if (fn) {
    for (const i of fn.interface.inputs) lines.push(`input          ${i.name}${i.variadic ? ' (and any after it)' : ''}${i.optional ? ' (optional)' : ''}`);
    for (const o of fn.interface.outputs) {
      const to =
        o.for === 'all_participants' ? `every participant (${parties.join(', ')})`
        : o.for === 'file_owner' ? `the owner of input '${o.owner_of}'`
        : `the creator (${t.user_id})`;
      lines.push(`output         ${o.name} → ${to}`);
    }
    if (fn.limits) lines.push(`limits         ${Object.entries(fn.limits).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  lines.push(`status         ${t.status}`, `creator        ${t.user_id}`);
  for (const c of t.collaborator_list) lines.push(`with           ${c.user_id}${c.approved ? ' (approved)' : ' (not yet approved)'}`);
  for (const f of t.user_private_result_file_id) lines.push(`result         ${f} (yours)`);
  if (t.task_result_file_id) lines.push(`result         ${t.task_result_file_id} (shared)`);
  return lines;
}
