import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { repoRoot } from '../helpers/service-process.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * The npm scripts hand a stop on to the service: `npm start` under a process manager gets a
 * TERM to the npm process, and the chain npm -> sh -> bash scripts/run.sh -> node must carry
 * it (each step execs the next), so the service stops cleanly and npm exits with its code.
 * Real npm, real signals.
 */

interface NpmRun {
  npm: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  /** Resolves when a stdout or stderr line contains `text`. */
  waitForText(text: string, timeoutMs?: number): Promise<void>;
}

function npmRun(
  t: { after: (fn: () => Promise<void> | void) => void },
  args: string[],
  env: Record<string, string> = {},
): NpmRun {
  const npm = spawn('npm', ['run', '--silent', ...args], {
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
    if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
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

/** The direct children of a process, by pid (Linux /proc). */
function childrenOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(' ').map(Number);
  } catch {
    return [];
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Alive and not a zombie waiting to be reaped. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Every descendant of a process, nearest first. */
function descendantsOf(pid: number): number[] {
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
async function nodeChild(
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
async function nodeChildOf(
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

async function exitWithin(run: NpmRun, timeoutMs: number): Promise<number | null> {
  const timeout = delay(timeoutMs, 'timeout' as const, { ref: false });
  const result = await Promise.race([run.exited, timeout]);
  assert.notEqual(
    result,
    'timeout',
    `npm did not exit within ${timeoutMs} ms:\n${run.lines.slice(-10).join('\n')}`,
  );
  return result as number | null;
}

const serviceEnv = { LOG_PRETTY: 'false', ZMQ_PUB_ENDPOINT: 'tcp://127.0.0.1:*' };

test('a TERM to `npm start` stops the service cleanly, and npm exits with its code, 0', async (t) => {
  const run = npmRun(t, ['start'], serviceEnv);
  const node = await nodeChild(t, run.npm, 'dist/src/app/main.js');
  await run.waitForText('"msg":"ready"');
  run.npm.kill('SIGTERM');
  assert.equal(await exitWithin(run, 15_000), ExitCode.OK, run.lines.slice(-5).join('\n'));
  assert.ok(run.lines.some((l) => l.includes('"msg":"shutdown complete"')));
  // Before the fix npm exited at once (143) and node went on running, orphaned.
  assert.equal(isAlive(node), false, 'the service is not left running');
});

test('a failure during the stop passes through `npm start` as the exit code, 70', async (t) => {
  const run = npmRun(t, ['start'], { ...serviceEnv, FAULT: 'shutdown-throw:stats' });
  const node = await nodeChild(t, run.npm, 'dist/src/app/main.js');
  await run.waitForText('"msg":"ready"');
  run.npm.kill('SIGTERM');
  assert.equal(await exitWithin(run, 15_000), ExitCode.APPLICATION_ERROR);
  assert.equal(isAlive(node), false);
});

test('a TERM to `npm run subscribe` stops the subscriber, and npm exits 0', async (t) => {
  const run = npmRun(t, ['subscribe', '--', 'tcp://127.0.0.1:9'], {});
  const node = await nodeChild(t, run.npm, 'dist/src/app/subscribe.js');
  await run.waitForText('subscribed; waiting for results');
  run.npm.kill('SIGTERM');
  assert.equal(await exitWithin(run, 15_000), 0);
  assert.equal(isAlive(node), false);
});

test('a TERM to `npm test` stops the test run it started, and npm exits', async (t) => {
  const run = npmRun(t, ['test', '--', 'dist/test/fixtures/sleeps-test.js']);
  const runner = await nodeChildOf(t, run.npm, '--test-reporter=spec');
  // The runner starts one process per test file: wait for it, so it is watched (and killed) too.
  for (let i = 0; i < 200 && childrenOf(runner).length === 0; i++) await delay(50);
  const running = descendantsOf(run.npm.pid ?? -1);
  t.after(() => {
    for (const pid of running) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  });
  run.npm.kill('SIGTERM');
  assert.notEqual(await exitWithin(run, 15_000), 0);
  // Before, bash died of the TERM and node --test went on, orphaned.
  for (let i = 0; i < 100 && running.some(isRunning); i++) await delay(50);
  assert.deepEqual(running.filter(isRunning).map(commandLine), [], 'nothing left running');
});

test('every npm script execs run.sh, and run.sh execs node for each long-running command', () => {
  const pkg = JSON.parse(readFileSync(`${repoRoot}/package.json`, 'utf8')) as {
    scripts: Record<string, string>;
  };
  for (const [name, command] of Object.entries(pkg.scripts)) {
    if (!command.includes('scripts/run.sh')) continue;
    assert.match(command, /^exec bash scripts\/run\.sh /, `npm script ${name}`);
  }
  const runSh = readFileSync(`${repoRoot}/scripts/run.sh`, 'utf8');
  for (const command of ['start', 'subscribe', 'bench', 'chaos', 'compose']) {
    // The command's case branch, from `command)` to its `;;`: a step may come before the exec.
    const branch = new RegExp(`^\\s*${command}\\)([\\s\\S]*?);;`, 'm').exec(runSh)?.[1] ?? '';
    assert.match(branch, /(?:^|\n)\s*exec "\$node" /, `run.sh ${command}`);
  }
});
