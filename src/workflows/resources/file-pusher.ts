import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TesseraError } from '../../errors/index.js';
import type { ResourceClass } from './types.js';
import { NO_REPLY } from './types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * file-pusher (EDGELESS resources/file_pusher.rs, version 1.0): a pure trigger. Every `period-ms`
 * (default 1000, also when it does not parse) it casts the next file of the operator's directory
 * (workflows.resources.file_pusher.directory; its files, not subfolders, sorted by path), round-robin, to
 * the output `out`: as UTF-8 text ("" when it is not UTF-8), or base64 with `encode-base64=true`; with no
 * files it casts "". It takes no events. Unlike EDGELESS, the directory is read when the resource starts
 * (so each workflow sees the files as they are then; EDGELESS reads them once, at node start), and the
 * first file is cast one period after the start (EDGELESS casts it before its output is patched, so that
 * first one is lost there).
 */
export const filePusher: ResourceClass = {
  classType: 'file-pusher',
  unavailable: (s) => (s.filePusher.directory ? null : 'workflows.resources.file_pusher.directory is empty'),
  start: async (ctx) => {
    const periodText = ctx.configurations['period-ms'] ?? '1000';
    // EDGELESS's u64 parse: digits only; anything else is the default. 0 would spin, so 1 ms is the least.
    const period = /^[0-9]{1,15}$/.test(periodText) ? Math.max(1, Number(periodText)) : 1000;
    const base64 = (ctx.configurations['encode-base64'] ?? 'false').toLowerCase() === 'true';
    const dir = ctx.settings.filePusher.directory;
    const files: string[] = [];
    try {
      const entries = await readdir(dir, { withFileTypes: true });
      const paths = entries.map((e) => join(dir, e.name)).sort();
      for (const path of paths) {
        let content: Buffer;
        try {
          content = await readFile(path);
        } catch {
          continue; // a subfolder or an unreadable file is skipped, as in EDGELESS
        }
        if (base64) files.push(content.toString('base64'));
        else {
          try {
            files.push(utf8.decode(content));
          } catch {
            files.push('');
          }
        }
      }
    } catch (err) {
      // EDGELESS logs this and pushes "" forever; a refusal tells the workflow's owner at once.
      throw new TesseraError('invalid_input', `resource '${ctx.name}' (file-pusher): cannot read the node's workflows.resources.file_pusher.directory: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    let next = 0;
    let timer: NodeJS.Timeout | null = null;
    const push = () => {
      const content = files.length ? files[next]! : '';
      next = files.length ? (next + 1) % files.length : 0;
      ctx.emit('out', content);
      timer = setTimeout(push, period);
    };
    timer = setTimeout(push, period);
    return {
      cast: () => {},
      call: () => NO_REPLY,
      stop: () => {
        if (timer) clearTimeout(timer);
        timer = null;
      },
    };
  },
};
