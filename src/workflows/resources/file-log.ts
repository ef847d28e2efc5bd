import { confinedPath, SealedLineFile } from './sealed-file.js';
import type { ResourceClass } from './types.js';
import { reply } from './types.js';
import { TesseraError } from '../../errors/index.js';

/** The AAD of file-log's lines: they open only as lines of the file they were written to. */
export const fileLogAad = (filename: string) => `file-log ${filename}`;

/** chrono's to_rfc3339 of now, with microseconds: 2025-05-21T14:58:13.741044+00:00 */
function rfc3339Now(): string {
  const now = new Date();
  const micros = String(now.getUTCMilliseconds() * 1000 + Math.floor((performance.now() % 1) * 1000)).padStart(6, '0');
  return `${now.toISOString().slice(0, 19)}.${micros}+00:00`;
}

/**
 * file-log (EDGELESS resources/file_log.rs): each cast or call appends a line
 * `[<rfc3339> ][InstanceId(node_id: <uuid>, function_id: <uuid>) ]<message>`, a call replying "". As in
 * EDGELESS, `add-timestamp` and `add-source-id` are on when present, whatever their value. Unlike EDGELESS
 * the file lives in the workflow's own folder (never outside it) and its lines are sealed at rest; the
 * owner reads them with `tessera workflow file <workflow> <filename>`.
 */
export const fileLog: ResourceClass = {
  classType: 'file-log',
  unavailable: (s) => (s.fileLog.enabled ? null : 'workflows.resources.file_log.enabled is false'),
  start: async (ctx) => {
    const { filename } = ctx.configurations;
    if (filename === undefined) throw new TesseraError('invalid_input', `resource '${ctx.name}' (file-log): configuration 'filename' is missing`);
    const path = confinedPath(ctx.folder(), filename, `resource '${ctx.name}' (file-log): filename`);
    const timestamp = 'add-timestamp' in ctx.configurations;
    const sourceId = 'add-source-id' in ctx.configurations;
    let file: SealedLineFile;
    try {
      file = await SealedLineFile.open(path, ctx.sealingKey('file-log'), fileLogAad(filename), ctx.settings.fileLog.maxFileBytes, (message) =>
        ctx.logger.warn({ workflow: ctx.workflowId, resource: ctx.name }, `file-log ${filename}: ${message}`),
      );
    } catch (err) {
      throw new TesseraError('invalid_input', `resource '${ctx.name}' (file-log): cannot open '${filename}': ${(err as Error).message}`);
    }
    const write = (message: string, source: { node: string; component: string }) => {
      const prefix = `${timestamp ? `${rfc3339Now()} ` : ''}${sourceId ? `InstanceId(node_id: ${source.node}, function_id: ${source.component}) ` : ''}`;
      void file.append(prefix + message);
    };
    return {
      cast: write,
      call: (message, source) => {
        write(message, source);
        return reply('');
      },
      stop: () => file.close(),
    };
  },
};
