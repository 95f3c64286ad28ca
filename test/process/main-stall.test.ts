import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import {
  ServiceProcess,
  handlersInstalled,
  testEnv,
  type LogLine,
} from '../helpers/service-process.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';
import { childrenOf, commandLine, isRunning } from '../helpers/npm-run.js';

/**
 * FAULT=main-stall:MS on the built service: a stall of the main thread is not a hung worker,
 * and one that never ends is killed, by a worker thread's watch or, in a service with no
 * worker threads, by the stall sentinel (lifecycle/sentinel.ts).
 */

const threadless = fileURLToPath(new URL('../fixtures/threadless-service.js', import.meta.url));

function threadlessService(env: Record<string, string>): ServiceProcess {
  return new ServiceProcess({ script: threadless, env: testEnv(env) });
}

/** The service's stall sentinels: child shells with that fatal line among their arguments. */
function stallSentinelsOf(service: ServiceProcess): number[] {
  return childrenOf(service.pid).filter((pid) =>
    commandLine(pid).includes('"thread":"stall-sentinel"'),
  );
}

/** The service's stall sentinel, once it runs (it is armed at `ready`). */
async function stallSentinelOf(service: ServiceProcess): Promise<number> {
  for (let tries = 0; ; tries++) {
    const sentinels = stallSentinelsOf(service);
    if (sentinels.length === 1) return sentinels[0]!;
    assert.ok(tries < 50, `no stall sentinel: children ${childrenOf(service.pid).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Signals a process unless it has ended (ESRCH); says whether it was there. */
function signalIfAlive(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Stops a process and its descendants, top down: a stopped process starts no more, and one that
 * ended meanwhile (a pulse's `head` that got its byte) is passed over. Gives the stopped ones.
 */
function stopTree(root: number): number[] {
  const stopped: number[] = [];
  for (let level = [root]; level.length > 0; level = level.flatMap(childrenOf)) {
    for (const pid of level) if (signalIfAlive(pid, 'SIGSTOP')) stopped.push(pid);
  }
  return stopped;
}

test('FAULT=main-stall:3000 with 1 s heartbeats kills no worker; the stall is logged as such', async (t) => {
  const service = new ServiceProcess({
    env: testEnv({ HEARTBEAT_MS: '1000', FAULT: 'main-stall:3000' }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  const stall = await service.waitFor('main thread stalled', 15_000);
  assert.equal(stall.level, 'warn');
  assert.ok(Number(stall['stalledMs']) >= 2_500, `stalledMs ${String(stall['stalledMs'])}`);
  // Two heartbeats with the main thread awake again: every worker still runs.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  assert.equal(service.isAlive, true, service.tail());
  assert.equal(
    service.lines.find((l) => l.msg === 'shutdown started'),
    undefined,
    service.tail(),
  );
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});

test('a main thread that never wakes: a worker kills the process past MAIN_STALL_LIMIT_MS, with one fatal line', async (t) => {
  // The stall (600 s) outlasts any shutdown deadline; nothing in main can end it.
  const service = new ServiceProcess({
    env: testEnv({ FAULT: 'main-stall:600000', MAIN_STALL_LIMIT_MS: '2000' }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  const fatal = await service.waitFor(
    (l) => l.msg === 'main thread stalled past MAIN_STALL_LIMIT_MS; killing the process',
    20_000,
  );
  assert.equal(fatal.level, 'fatal');
  assert.notEqual(fatal.thread, 'main', 'written by a worker thread');
  assert.ok(Number(fatal['silentMs']) >= 2_000, String(fatal['silentMs']));
  assert.deepEqual(await service.waitForExit(), { code: null, signal: 'SIGKILL' });
  // One watchdog writes; the others see that it fired.
  const lines = service.lines.filter((l) => l.level === 'fatal');
  assert.equal(lines.length, 1, service.tail());
});

test('a main thread that keeps its pulse is never killed, however short the limit', async (t) => {
  // A short limit (2 s: eight of main's pulses; not the 1 s floor, which a loaded CI machine's
  // main thread may lag by); the service runs twice that and more.
  const service = new ServiceProcess({
    env: testEnv({ MAIN_STALL_LIMIT_MS: '2000', THREAD_REPORT_INTERVAL_MS: '1000' }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  const reports = (): number => service.lines.filter((l) => l.msg === 'thread report').length;
  await service.waitFor(() => reports() >= 4, 15_000);
  // The worker threads keep main's watch: no stall sentinel besides.
  assert.deepEqual(stallSentinelsOf(service), []);
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});

test('with a debugger attached (--inspect), a stalled main thread is not killed', async (t) => {
  const service = new ServiceProcess({
    env: testEnv({
      FAULT: 'main-stall:4000',
      MAIN_STALL_LIMIT_MS: '1000',
      NODE_OPTIONS: '--inspect=127.0.0.1:0',
    }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  await service.waitFor('main thread stalled', 20_000);
  assert.equal(service.isAlive, true, service.tail());
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});

/** The line Node writes to stderr when its inspector opens. */
const inspectorOpened = /Debugger listening/;

test('a stray SIGUSR1 while the service loads opens no inspector: logged, ignored, and a stalled main thread is still killed', async (t) => {
  // Node's own USR1 action opens the inspector, and while it is open the watchdog stands down:
  // before, one USR1 left this stall (600 s, limit 2 s) running, with no line in the log.
  const service = new ServiceProcess({
    env: testEnv({ FAULT: 'main-stall:600000', MAIN_STALL_LIMIT_MS: '2000' }),
  });
  t.after(() => service.stop());
  await handlersInstalled(service);
  service.signal('SIGUSR1');
  // Handled once the loading yields to the event loop: by the early handler (and replayed,
  // `duringLoad`) or by the service's own (test/unit/lifecycle/signals.test.ts has both).
  const ignored = await service.waitFor((l) => (l.msg ?? '').startsWith('SIGUSR1 ignored'));
  assert.equal(ignored.level, 'warn');
  await service.waitFor(
    (l) => l.msg === 'main thread stalled past MAIN_STALL_LIMIT_MS; killing the process',
    20_000,
  );
  assert.deepEqual(await service.waitForExit(), { code: null, signal: 'SIGKILL' });
  assert.ok(!service.stderr.some((l) => inspectorOpened.test(l)), service.tail());
});

test('SIGUSR1 at run time is logged and ignored: the service runs on and stops cleanly', async (t) => {
  const service = new ServiceProcess({ env: testEnv() });
  t.after(() => service.stop());
  await service.waitFor('ready');
  service.signal('SIGUSR1');
  const ignored = await service.waitFor((l) => (l.msg ?? '').startsWith('SIGUSR1 ignored'));
  assert.equal(ignored['duringLoad'], undefined);
  service.signal('SIGUSR1');
  await service.waitFor(
    () => service.lines.filter((l) => (l.msg ?? '').startsWith('SIGUSR1 ignored')).length === 2,
  );
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
  assert.ok(!service.stderr.some((l) => inspectorOpened.test(l)), service.tail());
});

test('a stray SIGUSR2, while the service loads and at run time, is logged and ignored; TERM still stops it cleanly', async (t) => {
  // Its default action ended the process at once: exit 140, no shutdown step, no line.
  const service = new ServiceProcess({ env: testEnv() });
  t.after(() => service.stop());
  await handlersInstalled(service);
  service.signal('SIGUSR2');
  await service.waitFor('ready');
  service.signal('SIGUSR2');
  const ignored = (): LogLine[] =>
    service.lines.filter((l) => l.msg === 'SIGUSR2 ignored: the service stops on TERM or INT');
  await service.waitFor(() => ignored().length === 2);
  // The first is handled by the early handler (replayed, duringLoad) or by the service's own,
  // as the loading yields (test/unit/lifecycle/signals.test.ts has both).
  assert.deepEqual(
    ignored().map((l) => l.level),
    ['warn', 'warn'],
  );
  assert.equal(ignored()[1]?.['duringLoad'], undefined);
  assert.equal(service.isAlive, true);
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});

test('INSPECTOR_ON_SIGUSR1=true: SIGUSR1 opens the inspector on the loopback, says so, and the service still stops cleanly', async (t) => {
  const service = new ServiceProcess({
    env: testEnv({ INSPECTOR_ON_SIGUSR1: 'true', NODE_OPTIONS: '--inspect-port=127.0.0.1:0' }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  assert.ok(!service.stderr.some((l) => inspectorOpened.test(l)), 'not open before the signal');
  service.signal('SIGUSR1');
  const opened = await service.waitFor((l) =>
    (l.msg ?? '').startsWith('SIGUSR1: the inspector is open'),
  );
  assert.equal(opened.level, 'warn');
  assert.match(String(opened['url']), /^ws:\/\/127\.0\.0\.1:\d+\//);
  service.signal('SIGUSR1');
  const again = await service.waitFor('SIGUSR1: the inspector is already open');
  assert.equal(again['url'], opened['url']);
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
  assert.ok(
    service.stderr.some((l) => inspectorOpened.test(l)),
    service.tail(),
  );
});

test('a whole process stopped for longer than the limit (SIGSTOP, docker pause) and resumed is not killed', async (t) => {
  const service = new ServiceProcess({
    env: testEnv({ MAIN_STALL_LIMIT_MS: '2000', THREAD_REPORT_INTERVAL_MS: '500' }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  service.signal('SIGSTOP');
  // The pause is the fault injected: two and a half times the limit.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const reportsBefore = service.lines.filter((l) => l.msg === 'thread report').length;
  service.signal('SIGCONT');
  const reports = (): number => service.lines.filter((l) => l.msg === 'thread report').length;
  await service.waitFor(() => reports() >= reportsBefore + 4, 15_000);
  assert.equal(service.isAlive, true, service.tail());
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});

test('no worker threads: a main thread that never wakes is killed by the stall sentinel, with one fatal line', async (t) => {
  const service = threadlessService({ FAULT: 'main-stall:600000', MAIN_STALL_LIMIT_MS: '2000' });
  t.after(() => service.stop());
  const ready = await service.waitFor('ready');
  assert.deepEqual(ready['workers'], []);
  const fatal = await service.waitFor(
    (l) => l.msg === 'main thread stalled past MAIN_STALL_LIMIT_MS; killing the process',
    20_000,
  );
  assert.equal(fatal.level, 'fatal');
  assert.equal(fatal.thread, 'stall-sentinel');
  assert.equal(fatal['limitMs'], 2000);
  assert.deepEqual(await service.waitForExit(), { code: null, signal: 'SIGKILL' });
  assert.equal(service.lines.filter((l) => l.level === 'fatal').length, 1, service.tail());
});

test('no worker threads: a main thread that keeps its pulse is never killed; its sentinel ends with it', async (t) => {
  const service = threadlessService({ MAIN_STALL_LIMIT_MS: '1000' });
  t.after(() => service.stop());
  await service.waitFor('ready');
  const sentinel = await stallSentinelOf(service);
  // Over one and a half times the limit and its grace (3 s), with main pulsing.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  assert.equal(service.isAlive, true, service.tail());
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
  assert.equal(isRunning(sentinel), false, 'the stall sentinel outlived the service');
});

test('no worker threads: the whole container paused (docker pause) past the limit and resumed is not killed', async (t) => {
  const service = threadlessService({ MAIN_STALL_LIMIT_MS: '1000' });
  t.after(() => service.stop());
  await service.waitFor('ready');
  const sentinel = await stallSentinelOf(service);
  // As the cgroup freezer does, every process at once, as near as signals get.
  service.signal('SIGSTOP');
  const tree = stopTree(sentinel);
  assert.equal(tree[0], sentinel, 'the stall sentinel was not running');
  // Past the limit and its grace (3 s).
  await new Promise((resolve) => setTimeout(resolve, 3_500));
  // Main first: the sentinel then finds its time long past while main has not pulsed yet.
  service.signal('SIGCONT');
  for (const pid of tree) signalIfAlive(pid, 'SIGCONT');
  // Past the grace, within which a sentinel that took the pause for a stall would strike.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  assert.equal(service.isAlive, true, service.tail());
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});

test('no worker threads, a debugger attached (--inspect): a stalled main thread is not killed', async (t) => {
  const service = threadlessService({
    FAULT: 'main-stall:4000',
    MAIN_STALL_LIMIT_MS: '1000',
    NODE_OPTIONS: '--inspect=127.0.0.1:0',
  });
  t.after(() => service.stop());
  // The stall (4 s) is past the limit and its grace (3 s); main answers the TERM after it.
  await service.waitFor('fault drill: the main thread stalls');
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});

test('where no sentinel can run (a PATH without coreutils, as in a distroless image), one warning says so', async (t) => {
  // Node is started by its full path; the service's PATH holds nothing.
  const service = threadlessService({ PATH: '/nonexistent', MAIN_STALL_LIMIT_MS: '1000' });
  t.after(() => service.stop());
  await service.waitFor('ready');
  const warnings = service.lines.filter((l) =>
    (l.msg ?? '').startsWith('no sentinel can run here'),
  );
  assert.equal(warnings.length, 1, service.tail());
  assert.equal(warnings[0]!.level, 'warn');
  assert.deepEqual(warnings[0]!['missing'], ['timeout', 'cat', 'head', 'printf', 'date']);
  assert.deepEqual(childrenOf(service.pid), []);
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
  // Neither start-up's, the stall's nor the shutdown's sentinel said it again.
  assert.equal(
    service.lines.filter((l) => (l.msg ?? '').startsWith('no sentinel can run here')).length,
    1,
    service.tail(),
  );
});
