import { closeSync, readFileSync, readdirSync } from 'node:fs';

const O_CLOEXEC = 0o2000000;

/**
 * Closes the file descriptors this process inherited open across exec (a shell's pipe, a supervisor's
 * socket), so that no function process started later inherits them too: bubblewrap passes on every
 * descriptor without close-on-exec. Everything Node, libuv and SQLite open themselves is close-on-exec,
 * so only inherited descriptors lack the flag. stdin, stdout, stderr and Node's IPC channel are kept.
 * Returns the descriptors closed (Linux only; elsewhere none).
 */
export function closeInheritedDescriptors(): number[] {
  const keep = new Set([0, 1, 2]);
  const ipc = Number(process.env.NODE_CHANNEL_FD);
  if (Number.isInteger(ipc)) keep.add(ipc);
  let names: string[];
  try {
    names = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const closed: number[] = [];
  for (const name of names) {
    const fd = Number(name);
    if (keep.has(fd)) continue;
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // the directory handle of the listing itself, already closed
    }
    const flags = /^flags:\s*([0-7]+)/m.exec(info);
    if (!flags || Number.parseInt(flags[1], 8) & O_CLOEXEC) continue;
    try {
      closeSync(fd);
      closed.push(fd);
    } catch {
      // not ours to close after all
    }
  }
  return closed;
}
