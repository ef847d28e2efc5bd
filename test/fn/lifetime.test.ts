// Function processes never outlive the node that started them (fn.md, "Lifetime"), nor what they started
// themselves: on a clean end, when they exit by themselves, and when the node is SIGKILLed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { endTied, lifetimeMode, type LifetimeMode, spawnTied } from '../../src/sandbox/process/lifetime.js';
import { tied } from '../helpers/cli.js';

const LIFETIME = new URL('../../src/sandbox/process/lifetime.js', import.meta.url).href;
/** A "function" that starts a child of its own and prints both pids. */
const FUNCTION = ['sh', '-c', 'sleep 300 & echo "pids $$ $!"; wait'];

/** Whether a pid is a live process (a zombie waiting for its new parent to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]);
  } catch {
    return false;
  }
}

async function gone(pids: number[], withinMs: number) {
  const deadline = Date.now() + withinMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const left = pids.filter(alive);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  assert.deepEqual(left, [], `still running after ${withinMs} ms`);
}

function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    lines.once('line', (line) => {
      resolve(line);
      lines.close();
    });
    lines.once('close', () => reject(new Error('the output ended before its first line')));
  });
}
const pidsOf = (line: string) => line.split(' ').slice(1).map(Number);

const modes: LifetimeMode[] = lifetimeMode() === 'pdeathsig' ? ['pdeathsig', 'watchdog'] : ['watchdog'];

for (const mode of modes) {
  describe(`function process lifetime (${mode})`, () => {
    test('a clean end kills the whole process group and waits for the leader', async () => {
      const child = spawnTied('ulimit -n 256', FUNCTION, { cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'inherit'], mode });
      const pids = pidsOf(await firstLine(child.stdout!));
      assert.ok(pids.every(alive));
      await endTied(child);
      assert.ok(child.exitCode !== null || child.signalCode !== null, 'endTied resolved before the leader exited');
      await gone(pids, 2000);
    });

    test('a function that exits by itself takes what it left in its group with it', async () => {
      const child = spawnTied('', ['sh', '-c', 'sleep 300 & echo "pids $!"'], { cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'inherit'], mode });
      const exited = new Promise((r) => child.once('exit', r));
      const pids = pidsOf(await firstLine(child.stdout!));
      await exited;
      await gone(pids, 2000);
    });

    test('the function, and what it started, die with a node killed by SIGKILL', async () => {
      // A stand-in for the node: it starts a tied function and is then SIGKILLed, closing nothing.
      const script = `const { spawnTied } = await import(${JSON.stringify(LIFETIME)}); spawnTied('', ${JSON.stringify(FUNCTION)}, { cwd: '/', env: { PATH: process.env.PATH }, stdio: ['ignore', 'inherit', 'inherit'], mode: ${JSON.stringify(mode)} }); setInterval(() => {}, 1000);`;
      const node = spawn(...tied(process.execPath, ['--input-type=module', '-e', script]), { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise((r) => node.once('exit', r));
      let pids: number[];
      try {
        pids = pidsOf(await firstLine(node.stdout!));
        assert.ok(pids.every(alive));
      } finally {
        node.kill('SIGKILL');
        await exited;
      }
      // The kernel signals at once; the watchdog notices within its 1 s poll.
      await gone(pids, mode === 'pdeathsig' ? 2000 : 4000);
    });
  });
}
