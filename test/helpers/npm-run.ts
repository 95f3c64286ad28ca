import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { repoRoot } from './service-process.js';

/**
 * `npm run ...` as a real child process, and the process tree under it (Linux /proc): for the
 * tests that a signal to npm reaches what it started (test/process/npm-scripts.test.ts, and
 * the sample's own commands in test/app/npm-scripts.test.ts).
 */

export interface NpmRun {
  npm: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  /** Resolves when a stdout or stderr line contains `text`. */
  waitForText(text: string, timeoutMs?: number): Promise<void>;
}

export function npmRun(
  t: { after: (fn: () => Promise<void> | void) => void },
  args: string[],
  env: Record<string, string> = {},
  /** In a process group of its own, npm's pid its id: a terminal's foreground job. */
  group = false,
): NpmRun {
  const npm = spawn('npm', ['run', '--silent', ...args], {
    detached: group,
    cwd: repoRoot,
    // The build is there already (npm test built it); SKIP_BUILD keeps the set-up quick.
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '/root',
      SKIP_BUILD: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  for (const stream of [npm.stdout, npm.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const listener of listeners) listener();
    });
  }
  const exited = once(npm, 'exit').then(([code]) => code as number | null);
  t.after(async () => {
    if (group) killGroup(npm.pid);
    else if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
    await exited;
  });
  const waitForText = (text: string, timeoutMs = 30_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!lines.some((l) => l.includes(text))) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(
          new Error(`no line with ${text} within ${timeoutMs} ms:\n${lines.slice(-10).join('\n')}`),
        );
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  return { npm, lines, exited, waitForText };
}

/** SIGKILL to a process group, if any of it is left. */
function killGroup(pgid: number | undefined): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: nothing of the group is left.
  }
}

/** The direct children of a process, by pid (Linux /proc). */
export function childrenOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(' ').map(Number);
  } catch {
    return [];
  }
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Alive and not a zombie waiting to be reaped. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Every descendant of a process, nearest first. */
export function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  for (let level = childrenOf(pid); level.length > 0; level = level.flatMap(childrenOf)) {
    found.push(...level);
  }
  return found;
}

/**
 * The node process running `script` under npm, once run.sh has started it; killed after the
 * test whatever happens (a broken chain leaves it orphaned). Asserts it is npm's only child:
 * nothing in between to swallow a signal.
 */
export async function nodeChild(
  t: { after: (fn: () => void) => void },
  npm: ChildProcess,
  script: string,
): Promise<number> {
  const pid = npm.pid ?? -1;
  for (let i = 0; i < 600; i++) {
    const node = descendantsOf(pid).find((child) => commandLine(child).includes(script));
    if (node !== undefined) {
      t.after(() => {
        if (isAlive(node)) process.kill(node, 'SIGKILL');
      });
      assert.deepEqual(childrenOf(pid), [node], "node is npm's only child: nothing in between");
      return node;
    }
    await delay(50);
  }
  throw new Error(`npm never ran ${script}`);
}

/** A descendant of npm running `script`, once there is one; killed after the test. */
export async function nodeChildOf(
  t: { after: (fn: () => void) => void },
  npm: ChildProcess,
  script: string,
): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const found = descendantsOf(npm.pid ?? -1).filter((p) => commandLine(p).includes(script));
    if (found.length > 0) {
      t.after(() => {
        for (const pid of found) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      });
      return found[0] ?? -1;
    }
    await delay(50);
  }
  throw new Error(`npm never ran ${script}`);
}

export async function exitWithin(run: NpmRun, timeoutMs: number): Promise<number | null> {
  const timeout = delay(timeoutMs, 'timeout' as const, { ref: false });
  const result = await Promise.race([run.exited, timeout]);
  assert.notEqual(
    result,
    'timeout',
    `npm did not exit within ${timeoutMs} ms:\n${run.lines.slice(-10).join('\n')}`,
  );
  return result as number | null;
}
