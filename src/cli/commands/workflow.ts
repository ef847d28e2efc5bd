import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { TesseraError } from '../../errors/index.js';
import { type ClientFlags, clientOptions, withClient } from '../client.js';
import { align, type OutputFlags, output, outputOptions } from '../output.js';

/** Reads a workflow file and inlines each function's `code` (relative to the file) as base64 `binary`, as EDGELESS's CLI does. */
export function loadWorkflowFile(file: string): unknown {
  let spec: { functions?: Array<{ name?: string; class_specification?: { code?: string; binary?: string; function_type?: string } }> };
  try {
    spec = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TesseraError('invalid_input', `${file} is not a JSON workflow: ${(err as Error).message}`);
  }
  for (const f of spec.functions ?? []) {
    const cls = f.class_specification;
    // A CONTAINER's code names an image, not a file: passed through unchanged, as EDGELESS's CLI does, so
    // the node refuses it by name and says what to do instead (one message, the node's).
    if (!cls || cls.binary || !cls.code || cls.function_type === 'BUILTIN' || cls.function_type === 'CONTAINER') continue;
    const path = resolve(dirname(file), cls.code);
    if (!existsSync(path)) throw new TesseraError('not_found', `function '${f.name}': code file ${path} does not exist`);
    cls.binary = readFileSync(path).toString('base64');
  }
  return spec;
}

export function registerWorkflow(program: Command) {
  const workflow = program
    .command('workflow')
    .description('EDGELESS workflows: stateful function instances wired together')
    .addHelpText(
      'after',
      `
Examples:
  $ tessera workflow start examples/workflows/ping-pong/workflow.json --name pingpong   # prints the workflow id
  $ tessera workflow list
  $ tessera workflow inspect <id>
  $ tessera workflow file logger my-local-file.log   # what examples/workflows/file-log's resource wrote
  $ tessera workflow stop <id>`,
    );

  clientOptions(workflow.command('start <file>'))
    .description('Start a workflow from EDGELESS JSON; code paths are relative to the file; prints the workflow id')
    .option('--name <name>', 'the workflow name, which keys its instances\u2019 state (default: the file name)')
    .addHelpText('after', '\nExample:\n  $ tessera workflow start examples/workflows/file-log/workflow.json --name logger -i ./tessera-data-identities/alice --insecure-skip-verification')
    .action(async (file: string, flags: ClientFlags & { name?: string }) => {
      const spec = loadWorkflowFile(file);
      const r = await withClient(flags, (c) => c.startWorkflow(spec, flags.name ?? basename(file, extname(file))));
      console.log(r.workflow_id);
    });

  clientOptions(workflow.command('stop <id>'))
    .description('Stop a workflow (its synced state is kept for its next start under the same name)')
    .addHelpText('after', '\nExample:\n  $ tessera workflow stop <id>')
    .action(async (id: string, flags: ClientFlags) => {
      const r = await withClient(flags, (c) => c.stopWorkflow(id));
      console.log(`stopped ${r.name} (${r.workflow_id})`);
    });

  outputOptions(clientOptions(workflow.command('list')))
    .description('List running workflows')
    .addHelpText('after', '\nExamples:\n  $ tessera workflow list\n  $ tessera workflow list --quiet      # ids only')
    .action(async (flags: ClientFlags & OutputFlags) => {
      const list = await withClient(flags, (c) => c.listWorkflows());
      output(flags).table(list, [
        { key: 'workflow_id', header: 'ID' },
        { key: 'name', header: 'NAME' },
        { key: 'owner', header: 'OWNER' },
        { key: 'started_at', header: 'STARTED' },
      ], { idKey: 'workflow_id', empty: 'no workflows are running' });
    });

  clientOptions(workflow.command('file <workflow> <filename>'))
    .description("Print a file a file-log resource of your workflow wrote (by workflow name; the node keeps it sealed, only you can read it)")
    .addHelpText('after', '\nExample:\n  $ tessera workflow file logger my-local-file.log')
    .action(async (name: string, filename: string, flags: ClientFlags) => {
      process.stdout.write(await withClient(flags, (c) => c.readWorkflowFile(name, filename)));
    });

  outputOptions(clientOptions(workflow.command('inspect <id>')))
    .description("Show a workflow's instances: events handled, queue, restarts, outputs (a summary; --json for all of it)")
    .addHelpText('after', '\nExamples:\n  $ tessera workflow inspect <id>\n  $ tessera workflow inspect <id> --json')
    .action(async (id: string, flags: ClientFlags & OutputFlags) => {
      const info = await withClient(flags, (c) => c.inspectWorkflow(id));
      output(flags).result(info, () => inspectLines(info as unknown as Record<string, unknown>), { id });
    });
}

interface InspectedInstance {
  name: string;
  instance_id: string;
  kind: string;
  events: number;
  queued: number;
  busy: boolean;
  restarts: number;
  failed?: unknown;
  outputs: Record<string, string>;
}

/** A workflow as a person reads it: one line per function instance, then its resources. */
export function inspectLines(w: Record<string, unknown>): string[] {
  const fns = (w.functions ?? []) as InspectedInstance[];
  const resources = (w.resources ?? []) as Array<{ name: string; class_type: string }>;
  const lines = [`workflow  ${w.name ?? ''} (${w.id ?? ''}), owner ${w.owner ?? '?'}, started ${w.started_at ?? '?'}`];
  const rows = fns.map((f) => [
    f.name,
    f.kind,
    `${f.events} events`,
    `${f.queued} queued`,
    f.failed ? `FAILED (${typeof f.failed === 'string' ? f.failed : JSON.stringify(f.failed)})` : f.busy ? 'busy' : 'idle',
    `${f.restarts} restart${f.restarts === 1 ? '' : 's'}`,
    Object.entries(f.outputs ?? {}).map(([o, to]) => `${o}→${to}`).join(' '),
  ]);
  if (rows.length) lines.push('functions:', ...align(rows).map((l) => `  ${l}`));
  else lines.push('functions: none running');
  if (resources.length) lines.push(`resources: ${resources.map((r) => `${r.name} (${r.class_type})`).join(', ')}`);
  return lines;
}
