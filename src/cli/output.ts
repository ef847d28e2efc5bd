/**
 * What every command prints, in one place, so that all of them answer scripts and people the same way.
 *
 * API, for a command that prints data:
 *
 *   import { outputOptions, output, type OutputFlags } from '../output.js';
 *
 *   outputOptions(cmd)                       // adds --json and --quiet to the command
 *     .action(async (flags: MyFlags & OutputFlags) => {
 *       const out = output(flags);
 *       out.table(rows, [{ key: 'id', header: 'ID' }, { key: 'name', header: 'NAME' }], { idKey: 'id' });
 *       out.record({ id, state }, [['id', id], ['state', state]]);   // one thing, shown as "label  value" lines
 *       out.ids(['a', 'b']);                   // a list of ids: one per line; --json: a JSON array
 *       out.result(value, () => ['done']);     // anything else: JSON under --json, else the lines given
 *       out.note('uploaded 3 files');          // a human remark on stderr; nothing under --quiet or --json
 *     });
 *
 * Rules it keeps:
 *   --json   one JSON document on stdout (2-space indented), nothing else on stdout;
 *   --quiet  only ids on stdout (the idKey column of a table, the id of a record), errors on stderr;
 *   tables   on a terminal: aligned columns under a header line; in a pipe: the rows alone, cells
 *            two spaces apart, unpadded, as the commands printed before (use --json to parse);
 *   progress progressBar(label) draws on stderr on a terminal only, counting plaintext bytes, with the
 *            speed and the time left.
 */
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';

export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
}

export interface Column<T> {
  key: keyof T & string;
  header: string;
  /** How to show the value (default: String(value), '' for null/undefined). */
  format?: (value: unknown, row: T) => string;
}

/** Adds --json and --quiet to a command that prints data. */
export function outputOptions(cmd: Command): Command {
  return cmd.option('--json', 'print JSON (one document on stdout), for scripts').option('-q, --quiet', 'print only ids (and errors)');
}

const show = (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** Aligned rows: columns padded to their widest cell, two spaces apart, trailing blanks trimmed. */
export function align(rows: string[][]): string[] {
  const widths = rows.reduce((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), [] as number[]);
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
}

export interface Output {
  readonly json: boolean;
  readonly quiet: boolean;
  table<T extends object>(rows: T[], columns: Column<T>[], opts?: { idKey?: keyof T & string; empty?: string }): void;
  record(value: unknown, lines: Array<[string, unknown]>, opts?: { id?: string }): void;
  ids(ids: string[]): void;
  result(value: unknown, lines: () => string[], opts?: { id?: string }): void;
  note(message: string): void;
}

export function output(flags: OutputFlags = {}, stream: NodeJS.WriteStream = process.stdout): Output {
  const json = Boolean(flags.json);
  const quiet = Boolean(flags.quiet) && !json;
  const tty = Boolean(stream.isTTY);
  const write = (lines: string[]) => {
    if (lines.length) stream.write(`${lines.join('\n')}\n`);
  };
  const printJson = (value: unknown) => stream.write(`${JSON.stringify(value, null, 2)}\n`);
  return {
    json,
    quiet,
    table(rows, columns, opts = {}) {
      if (json) return printJson(rows);
      if (quiet) return write(opts.idKey ? rows.map((r) => show(r[opts.idKey!])) : []);
      if (!rows.length) {
        if (opts.empty && tty) write([opts.empty]);
        return;
      }
      const cells = rows.map((r) => columns.map((c) => (c.format ? c.format(r[c.key], r) : show(r[c.key]))));
      // A pipe gets the rows alone, cells two spaces apart and unpadded, as the commands printed before.
      write(tty ? align([columns.map((c) => c.header), ...cells]) : cells.map((r) => r.join('  ').trimEnd()));
    },
    record(value, lines, opts = {}) {
      if (json) return printJson(value);
      if (quiet) return write(opts.id ? [opts.id] : []);
      const shown = lines.filter(([, v]) => v !== undefined);
      const width = Math.max(0, ...shown.map(([l]) => l.length));
      write(shown.map(([l, v]) => `${l.padEnd(width)}  ${show(v)}`.trimEnd()));
    },
    ids(ids) {
      if (json) return printJson(ids);
      write(ids);
    },
    result(value, lines, opts = {}) {
      if (json) return printJson(value);
      if (quiet) return write(opts.id ? [opts.id] : []);
      write(lines());
    },
    note(message) {
      if (!json && !quiet) process.stderr.write(`${message}\n`);
    },
  };
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** 75 → "1m15s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One progress line: what is done of what, how fast, how long yet; in bytes, or in `unit` (e.g. 'tx'). */
export function progressLine(done: number, total: number, elapsedMs: number, unit = 'bytes'): { sizes: string; speed: string; left: string } {
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const bytes = unit === 'bytes';
  return {
    sizes: bytes ? `${formatBytes(done)} / ${formatBytes(total)}` : `${done} / ${total} ${unit}`,
    speed: bytes ? `${formatBytes(Math.round(rate))}/s` : `${Math.round(rate)} ${unit}/s`,
    left: rate > 0 ? formatDuration((total - done) / rate) : '?',
  };
}

/**
 * A progress bar on a terminal (stderr), with speed and time left; nothing in a pipe. It counts bytes
 * (callers pass plaintext bytes: what the user knows the file's size to be) unless `unit` names another.
 */
export function progressBar(label: string, opts: { unit?: string; stream?: NodeJS.WriteStream } = {}): { update: (done: number, total: number) => void; stop: () => void } {
  const stream = opts.stream ?? process.stderr;
  if (!stream.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new SingleBar({ format: `${label} [{bar}] {percentage}% | {sizes} | {speed} | {left} left`, stream, hideCursor: true, barCompleteChar: '=', barIncompleteChar: ' ' });
  let started = 0;
  return {
    update(done, total) {
      if (!started) {
        started = Date.now();
        bar.start(total, 0, progressLine(0, total, 0, opts.unit));
      }
      bar.update(done, progressLine(done, total, Date.now() - started, opts.unit));
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
