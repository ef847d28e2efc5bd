import { readFileSync } from 'node:fs';

// The commands of a markdown file's fenced ```sh blocks, as test/docs/commands.test.ts runs them.
//
// The convention, for whoever writes docs:
// - Every line of a ```sh block is a command, run in order, top to bottom, one node per file. A line ending
//   in `\` continues on the next. Blank lines and lines that are only a `# comment` are not commands
//   (a block may show output as comments).
// - `# test: skip REASON` at the end of a line skips it (e.g. it needs SEV-SNP hardware or a second
//   machine). The reason is required; the test prints how many it skipped and why.
// - `<…>` placeholders (`<id>`, `<task-id>`, `<proposal-id>`) take the id the latest command that showed
//   one printed: its first word when that is an id (hex or a UUID, 8 characters or more), or the id on a
//   line naming one (`function id    3f1c…`).
// - `npx tessera` and `tessera` both run this checkout's bin; `https://127.0.0.1:8000`, the default address,
//   becomes the test node's.

export interface DocCommand {
  /** The command as written (continuations joined), without a trailing `# test:` directive. */
  text: string;
  /** 1-based line where it starts. */
  line: number;
  /** Why it is not run, from `# test: skip REASON`. */
  skip?: string;
}

const DIRECTIVE = /\s+#\s*test:\s*(\S+)(?:\s+(.*))?$/;

export function docCommands(markdown: string): DocCommand[] {
  const lines = markdown.split('\n');
  const out: DocCommand[] = [];
  let inSh = false;
  let inOther = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const fence = raw.match(/^\s*```(\S*)/);
    if (fence) {
      if (inSh || inOther) inSh = inOther = false;
      else if (fence[1] === 'sh') inSh = true;
      else inOther = true;
      continue;
    }
    if (!inSh) continue;
    const start = i;
    let text = raw;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i].trim()}`;
    const trimmed = text.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const command: DocCommand = { text: trimmed, line: start + 1 };
    const directive = trimmed.match(DIRECTIVE);
    if (directive) {
      command.text = trimmed.slice(0, directive.index).trim();
      if (directive[1] !== 'skip') throw new Error(`line ${start + 1}: unknown test directive '${directive[1]}' (only '# test: skip REASON')`);
      if (!directive[2]?.trim()) throw new Error(`line ${start + 1}: '# test: skip' needs a reason`);
      command.skip = directive[2].trim();
    }
    out.push(command);
  }
  return out;
}

export const docCommandsOf = (path: string) => docCommands(readFileSync(path, 'utf8'));

const ID = /^[0-9a-f][0-9a-f-]{7,}$/i;

/**
 * The id `stdout` shows: its first word when that is an id (hex, or a UUID), else the id on the first line
 * that names one (`function id    3f1c…`), else undefined.
 */
export function printedId(stdout: string): string | undefined {
  const first = stdout.trim().split(/\s+/)[0] ?? '';
  if (ID.test(first)) return first;
  const named = stdout.match(/^[ \t]*[\w -]*\bid:?[ \t]+([0-9a-f][0-9a-f-]{7,})[ \t]*$/im);
  return named?.[1];
}

/** `text` with `<…>` placeholders filled by `id`; undefined when it has placeholders and there is no id. */
export function fillPlaceholders(text: string, id: string | undefined): string | undefined {
  // Only angle brackets around a name: not shell redirections (`< file`, `<<EOF`, `2>&1`).
  const placeholder = /<([a-z][a-z0-9-]*)>/gi;
  if (!placeholder.test(text)) return text;
  if (id === undefined) return undefined;
  return text.replace(placeholder, id);
}
