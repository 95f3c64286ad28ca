import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { missingPrograms, sentinelPrograms } from '../../../src/lib/lifecycle/sentinel.js';

/**
 * The shutdown's sentinel (lifecycle/sentinel.ts) over a real process of its own (it kills the
 * process that armed it): a stuck main thread is killed at the deadline plus the grace with
 * one fatal line, even with its stdout full; a process that ends by itself is not held by it,
 * and one that disarmed it is not killed.
 */

const host = fileURLToPath(new URL('../../fixtures/sentinel-host.js', import.meta.url));

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From `started` on stderr to the exit. */
  afterStartMs: number;
}

/**
 * Runs the host. Its stdout is a pipe read as it comes, or (`readStdout` false) a FIFO, like
 * the pipe supervisord or Docker gives (Node's own stdio pipes are socket pairs),
 * read only once the host has ended.
 */
async function runHost(
  mode: string,
  deadlineMs: number,
  graceMs: number,
  readStdout = true,
  busybox?: Busybox,
): Promise<Ended> {
  const fifo = readStdout ? undefined : unreadFifo();
  const argv = [host, mode, String(deadlineMs), String(graceMs)];
  const stdio = ['ignore', fifo?.writeFd ?? 'pipe', 'pipe'] as const;
  const child =
    busybox === undefined
      ? spawn(process.execPath, argv, { stdio: [...stdio] })
      : spawn('unshare', busybox.wrap(process.execPath, argv), {
          stdio: [...stdio],
          env: { ...process.env, PATH: busybox.path },
        });
  if (fifo !== undefined) fs.closeSync(fifo.writeFd);
  let stdout = '';
  let stderr = '';
  let startedAt = 0;
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (startedAt === 0 && stderr.includes('started')) startedAt = performance.now();
  });
  // After the exit and every stdio stream's end (here from the start: it may come first).
  const closed = once(child, 'close');
  // The test's own bound: TERM (no handler in the host), told apart from the sentinel's KILL.
  const killer = setTimeout(() => child.kill('SIGTERM'), 20_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  const endedAt = performance.now();
  await closed;
  if (fifo !== undefined) stdout = fifo.drain();
  return { code, signal, stdout, stderr, afterStartMs: endedAt - startedAt };
}

/** A FIFO in a fresh directory: a blocking write end for the host, a non-blocking reader. */
function unreadFifo(): { writeFd: number; drain: () => string } {
  const dir = fs.mkdtempSync(join(tmpdir(), 'sentinel-stdout-'));
  const path = join(dir, 'stdout');
  execFileSync('mkfifo', [path]);
  const readFd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeFd = fs.openSync(path, 'w');
  fs.rmSync(dir, { recursive: true });
  const drain = (): string => {
    const chunks: Buffer[] = [];
    const buffer = Buffer.alloc(65536);
    for (;;) {
      let n = 0;
      try {
        n = fs.readSync(readFd, buffer);
      } catch {
        break; // EAGAIN: nothing more.
      }
      if (n === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, n)));
    }
    fs.closeSync(readFd);
    return Buffer.concat(chunks).toString();
  };
  return { writeFd, drain };
}

test('a main thread that never returns is killed past the deadline and its grace, with one fatal line', async () => {
  const ended = await runHost('stall', 300, 300);
  assert.match(ended.stderr, /started sentinel/);
  assert.equal(ended.signal, 'SIGKILL', `exit code ${String(ended.code)}: ${ended.stderr}`);
  assert.ok(ended.afterStartMs >= 500, `killed ${Math.round(ended.afterStartMs)} ms after start`);
  assert.ok(ended.afterStartMs < 15_000, `killed ${Math.round(ended.afterStartMs)} ms after start`);
  const line = JSON.parse(ended.stdout.trim()) as Record<string, unknown>;
  assert.equal(line['level'], 'fatal');
  assert.equal(line['thread'], 'deadline-sentinel');
  assert.equal(line['deadlineMs'], 300);
  assert.equal(line['graceMs'], 300);
  assert.equal(line['signal'], 'SIGKILL');
});

test('a main thread blocked on a stdout nobody reads is killed all the same (the line is dropped)', async () => {
  const ended = await runHost('blocked-stdout', 300, 300, false);
  assert.match(ended.stderr, /stdout written on/);
  assert.equal(ended.signal, 'SIGKILL', `exit code ${String(ended.code)}: ${ended.stderr}`);
  assert.ok(ended.afterStartMs < 15_000, `killed ${Math.round(ended.afterStartMs)} ms after start`);
  // The pipe was full when it struck: its line could not be written, and it killed anyway.
  assert.ok(ended.stdout.length >= 8 * 4096, `${ended.stdout.length} bytes on stdout`);
  assert.doesNotMatch(ended.stdout, /"level":"fatal"/);
});

/** The host armed its sentinel, then ended by itself with 0, and nothing was written. */
function assertEndedByItself(ended: Ended): void {
  assert.match(ended.stderr, /started sentinel/);
  assert.equal(ended.signal, null, `killed: ${ended.stdout}`);
  assert.equal(ended.code, 0);
  assert.equal(ended.stdout, '');
}

test('a process that ends by itself is not held by its sentinel, and nothing is written', async () => {
  const ended = await runHost('exit', 10_000, 10_000);
  assertEndedByItself(ended);
  assert.ok(ended.afterStartMs < 5_000, `ended ${Math.round(ended.afterStartMs)} ms after start`);
});

test('a disarmed sentinel kills nothing, though main then stalls past its time', async () => {
  assertEndedByItself(await runHost('disarm', 300, 300));
});

test('a deadline as long as the longest timer is waited for: the sentinel is still there a second later', async () => {
  // The deadline plus the grace is past 2^31 - 1 ms (a Node timer that long fires after
  // 1 ms); a duration `timeout` refused would end the sentinel at once, never striking.
  const ended = await runHost('linger', 2_147_483_647, 4000);
  assertEndedByItself(ended);
  assert.match(ended.stderr, /sentinel waiting/);
});

// The stall sentinel (armStallSentinel): main pulses; a limit of 1 s, the resume grace 2 s.

test('stall sentinel: a main thread whose pulse stops is killed past the limit and the grace, with one fatal line', async () => {
  const ended = await runHost('pulse-stall', 1000, 0);
  assert.equal(ended.signal, 'SIGKILL', `exit code ${String(ended.code)}: ${ended.stderr}`);
  // 1.5 s of pulses, then the limit and the grace less a pulse's interval (250 ms).
  assert.ok(ended.afterStartMs >= 4_000, `killed ${Math.round(ended.afterStartMs)} ms after start`);
  assert.ok(ended.afterStartMs < 15_000, `killed ${Math.round(ended.afterStartMs)} ms after start`);
  const line = JSON.parse(ended.stdout.trim()) as Record<string, unknown>;
  assert.equal(line['level'], 'fatal');
  assert.equal(line['thread'], 'stall-sentinel');
  assert.equal(line['msg'], 'main thread stalled past MAIN_STALL_LIMIT_MS; killing the process');
  assert.equal(line['limitMs'], 1000);
  assert.equal(line['graceMs'], 2000);
});

test('stall sentinel: a stall past the limit but within the resume grace (a process just resumed) is not killed', async () => {
  assertEndedByItself(await runHost('pulse-short-stall', 1000, 0));
});

test('stall sentinel: main alone stopped (SIGSTOP) past the limit and the grace is not killed', async () => {
  const child = spawn(process.execPath, [host, 'pulse-idle', '1000', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  let stderr = '';
  const started = new Promise<void>((resolve) =>
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('started')) resolve();
    }),
  );
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  await started;
  assert.match(stderr, /started sentinel/);
  child.kill('SIGSTOP');
  // Past the limit and the grace (3 s); the sentinel runs on and finds main stopped.
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  child.kill('SIGCONT');
  const [code, signal] = await exited;
  assert.equal(signal, null, `killed: ${stdout}`);
  assert.equal(code, 0);
  assert.equal(stdout, '');
});

test('stall sentinel: none while a debugger is attached; armed again once it has gone', async () => {
  const ended = await runHost('pulse-debugger', 1000, 0);
  assert.match(ended.stderr, /debugger gone/);
  assert.equal(ended.signal, 'SIGKILL', `exit code ${String(ended.code)}: ${ended.stderr}`);
  assert.equal(
    (JSON.parse(ended.stdout.trim()) as Record<string, unknown>)['thread'],
    'stall-sentinel',
  );
});

// Alpine images (node:24-alpine) have busybox's shell and programs, not dash and coreutils': its
// `timeout` runs the command in its own process and ends it with the signal itself (143 for
// TERM, never 124). The host runs in a mount namespace of its own whose /bin/sh is busybox,
// with busybox's applets first on PATH.

interface Busybox {
  /** The PATH: busybox's applets, then the test's own. */
  path: string;
  /** `unshare`'s arguments that run `command` with `args` where /bin/sh is busybox. */
  wrap(command: string, args: string[]): string[];
}

/**
 * Busybox as an Alpine image has it, for one test (`t.after` removes its directory).
 * scripts/test-prereqs.sh installs busybox; `unshare -m` needs root, as the suite does.
 */
function alpine(t: TestContext): Busybox {
  const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((file) => fs.existsSync(file));
  assert.ok(busybox, 'busybox is not installed (scripts/test-prereqs.sh installs it)');
  const dir = fs.mkdtempSync(join(tmpdir(), 'sentinel-busybox-'));
  t.after(() => fs.rmSync(dir, { recursive: true }));
  // Every program a sentinel runs, so a program added to the sentinels is busybox's here too.
  for (const name of sentinelPrograms) fs.symlinkSync(busybox, join(dir, name));
  const shell = fs.realpathSync('/bin/sh');
  // A private mount namespace (unshare's default propagation): the bind mount is the host's
  // alone, and `exec` keeps the pid that the test signals and waits for.
  const mountThenExec = 'mount --bind "$1" "$2" && shift 2 && exec "$@"';
  const wrap = (command: string, args: string[]): string[] => {
    return ['-m', 'sh', '-c', mountThenExec, 'sh', busybox, shell, command, ...args];
  };
  const probe = spawnSync('unshare', wrap('/bin/sh', ['--help']), { encoding: 'utf8' });
  assert.match(
    `${probe.stdout}${probe.stderr}`,
    /^BusyBox/m,
    '/bin/sh is not busybox in the namespace',
  );
  return { path: `${dir}:${process.env['PATH'] ?? ''}`, wrap };
}

test('busybox: a main thread that never returns is killed past the deadline', async (t) => {
  const ended = await runHost('stall', 300, 300, true, alpine(t));
  assert.match(ended.stderr, /started sentinel/);
  assert.equal(ended.signal, 'SIGKILL', `exit code ${String(ended.code)}: ${ended.stderr}`);
  const line = JSON.parse(ended.stdout.trim()) as Record<string, unknown>;
  assert.equal(line['thread'], 'deadline-sentinel');
  assert.match(String(line['time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('busybox: a disarmed sentinel kills nothing, nor one as long as the longest timer', async (t) => {
  const busybox = alpine(t);
  const [disarmed, lingered] = await Promise.all([
    runHost('disarm', 300, 300, true, busybox),
    runHost('linger', 2_147_483_647, 4000, true, busybox),
  ]);
  assertEndedByItself(disarmed);
  assertEndedByItself(lingered);
  assert.match(lingered.stderr, /sentinel waiting/);
});

test('busybox: the stall sentinel kills a main thread whose pulse stops, and spares one that pulses', async (t) => {
  const busybox = alpine(t);
  const [stalled, resumed] = await Promise.all([
    runHost('pulse-stall', 1000, 0, true, busybox),
    runHost('pulse-short-stall', 1000, 0, true, busybox),
  ]);
  assert.equal(stalled.signal, 'SIGKILL', `exit code ${String(stalled.code)}: ${stalled.stderr}`);
  assert.equal(
    (JSON.parse(stalled.stdout.trim()) as Record<string, unknown>)['thread'],
    'stall-sentinel',
  );
  assertEndedByItself(resumed);
});

test('missingPrograms names what a sentinel needs and PATH lacks; an empty PATH lacks all of it', () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'sentinel-path-'));
  try {
    for (const name of ['timeout', 'cat']) {
      fs.writeFileSync(join(dir, name), '#!/bin/sh\n', { mode: 0o755 });
    }
    // Present but not executable: not runnable.
    fs.writeFileSync(join(dir, 'head'), '#!/bin/sh\n', { mode: 0o644 });
    assert.deepEqual(missingPrograms(`${dir}:/nonexistent`), ['head', 'printf', 'date']);
    assert.deepEqual(missingPrograms(''), ['timeout', 'cat', 'head', 'printf', 'date']);
    assert.deepEqual(missingPrograms('/usr/bin:/bin'), []);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});
