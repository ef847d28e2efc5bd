// Memory figures of a live process, from Linux's /proc/<pid>/status.
import { readFileSync } from 'node:fs';

/** A `kB` field of /proc/<pid>/status (VmRSS: resident now; VmHWM: peak resident), in bytes. */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]) * 1024;
}

export const peakRss = (pid: number) => procStatusBytes(pid, 'VmHWM');
