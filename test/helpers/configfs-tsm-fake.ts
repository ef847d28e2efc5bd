// A fake configfs-tsm report directory that replays a REAL report (test/helpers/configfs-tsm-fake.py, a
// FUSE file system on Debian's python3-fusepy): mounted in a temp directory, its server started and ended
// by its process id; stop() checks that the mount is gone.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempDir } from './cli.js';

export const FAKE_TSM = join(REPO, 'test', 'helpers', 'configfs-tsm-fake.py');

export interface FakeTsmOptions {
  provider: 'sev_guest' | 'tdx_guest';
  /** The real report (SEV-SNP) or quote (TDX) that outblob returns. */
  outblob: string;
  /** sev_guest: the VCEK (DER or PEM), and the ASK then ARK (PEM), for auxblob's certificate table. */
  vcek?: string;
  askArk?: string;
}

export interface FakeTsm {
  /** The report directory: what attestation.tsm_dir names. */
  dir: string;
  pid: number;
  /** Every write to an inblob the fake committed, in order. */
  inblobs: Array<{ entry: string; data: Buffer }>;
  /** The next `n` reads of outblob each first see another writer's inblob write. */
  race(n: number): Promise<void>;
  stop(): Promise<void>;
}

const mounted = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);

export async function startFakeTsm(opts: FakeTsmOptions): Promise<FakeTsm> {
  if (!existsSync('/dev/fuse')) throw new Error('no /dev/fuse: the configfs-tsm replay needs FUSE (a container needs --device /dev/fuse and CAP_SYS_ADMIN)');
  const dir = tempDir('tessera-tsm-');
  const args = [FAKE_TSM, dir, '--provider', opts.provider, '--outblob', opts.outblob];
  if (opts.vcek) args.push('--vcek', opts.vcek);
  if (opts.askArk) args.push('--ask-ark', opts.askArk);
  // Debian's python3 (where python3-fusepy is installed), not whatever python3 is first on PATH.
  const proc: ChildProcess = spawn('/usr/bin/python3', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const inblobs: FakeTsm['inblobs'] = [];
  let stderr = '';
  let pending = '';
  const waiting: Array<() => void> = [];
  let ready: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  proc.stderr!.on('data', (d) => (stderr += d));
  proc.stdout!.on('data', (d: Buffer) => {
    pending += d.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const [word, entry, hex] = line.split(' ');
      if (word === 'ready') ready();
      else if (word === 'ok') waiting.shift()?.();
      else if (word === 'inblob') inblobs.push({ entry, data: Buffer.from(hex ?? '', 'hex') });
    }
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    proc.once('exit', (code, signal) => reject(new Error(`the configfs-tsm fake exited (${code ?? signal}) before mounting:\n${stderr}`)));
    proc.once('error', (err) => reject(err));
  });
  const timeout = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  try {
    await Promise.race([isReady, failed]);
  } catch (err) {
    if (mounted(dir)) execFileSync('umount', ['-l', dir]);
    rmdirSync(dir);
    throw err;
  } finally {
    clearTimeout(timeout);
  }
  failed.catch(() => {});
  return {
    dir,
    pid: proc.pid!,
    inblobs,
    race: (n) =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        proc.stdin!.write(`race ${n}\n`);
      }),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        // libfuse leaves its loop on SIGTERM and unmounts; SIGKILL (if it hangs) leaves the mount, undone below.
        const killer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        proc.kill('SIGTERM');
        await exited;
        clearTimeout(killer);
      }
      if (mounted(dir)) execFileSync('umount', ['-l', dir]);
      if (mounted(dir)) throw new Error(`${dir} is still mounted`);
      rmdirSync(dir);
    },
  };
}
