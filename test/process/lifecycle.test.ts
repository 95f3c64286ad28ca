import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mainScript, ServiceProcess, testEnv, type LogLine } from '../helpers/service-process.js';
import { runFile } from '../helpers/exec.js';
import { setTimeout as delay } from 'node:timers/promises';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';
import { childrenOf, commandLine } from '../helpers/npm-run.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The built fixture service as a real child process, stopped with real signals. */

function start(
  t: { after: (fn: () => Promise<void>) => void },
  env: Record<string, string> = {},
): ServiceProcess {
  const service = new ServiceProcess({ env: testEnv(env) });
  t.after(() => service.stop());
  return service;
}

const byMsg = (msg: string) => (l: LogLine) => l.msg === msg;

/** The fatal line's `thread` of start-up's sentinel (lifecycle/sentinel.ts). */
const startupSentinel = 'startup-sentinel';

/**
 * Whether the service has start-up's sentinel: a child process running the sentinel's script,
 * with that fatal line among its arguments (the shutdown's has its own).
 */
function hasStartupSentinel(service: ServiceProcess): boolean {
  return childrenOf(service.pid).some((pid) => {
    const command = commandLine(pid);
    return command.includes('"$1" cat') && command.includes(`"thread":"${startupSentinel}"`);
  });
}

/** Resolves once the service has no start-up sentinel; fails if it exits first. */
async function startupSentinelGone(service: ServiceProcess): Promise<void> {
  while (hasStartupSentinel(service)) {
    assert.ok(service.isAlive, `exited with its start-up sentinel: ${service.tail()}`);
    await delay(10);
  }
  assert.ok(service.isAlive, `exited: ${service.tail()}`);
}

test("APP_VERSION_FILE names the version: the build's commit applies only when neither APP_VERSION nor it is set", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'app-version-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'version');
  writeFileSync(file, '2.4.1+abc\n');
  // Before: the build's commit went in as APP_VERSION, and beside APP_VERSION_FILE that was
  // 'both set', exit 78.
  const service = start(t, { FIXTURE_TICK_MS: '60000', APP_VERSION_FILE: file });
  const ready = await service.waitFor('ready');
  assert.equal(ready['version'], '2.4.1+abc');
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK);
});

test('ready names every worker and the ZeroMQ endpoint; TERM when idle exits 0 by itself', async (t) => {
  const service = start(t, { FIXTURE_TICK_MS: '60000' });
  const ready = await service.waitFor('ready');
  assert.deepEqual(ready['workers'], ['cruncher', 'tally', 'ticker']);
  assert.match(String(ready['zmqEndpoint']), /^tcp:\/\/127\.0\.0\.1:\d+$/);
  // The version is the build's git commit unless APP_VERSION says otherwise.
  assert.match(String(ready['version']), /^[0-9a-f]{12}$/);
  service.signal('SIGTERM');
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.OK);
  const complete = service.lines.find(byMsg('shutdown complete'));
  assert.equal(complete?.['exitCode'], 0);
  // It ended because nothing was left open, not because the deadline fired.
  assert.equal(service.lines.find(byMsg('shutdown deadline exceeded; exiting now')), undefined);
  const steps = service.lines.filter(byMsg('shutdown step finished')).map((l) => l['step']);
  assert.deepEqual(steps, [
    'stop ticker',
    'stop scheduled jobs',
    'drain jobs',
    'stop worker threads',
    'close zmq sockets',
    'flush telemetry',
    'flush logs',
  ]);
  for (const worker of ['ticker', 'tally', 'cruncher']) {
    assert.ok(
      service.lines.some(
        (l) => l.msg === 'worker exited' && l['worker'] === worker && l['expected'] === true,
      ),
      worker,
    );
  }
});

test('INT stops the service like TERM', async (t) => {
  const service = start(t);
  await service.waitFor('ready');
  service.signal('SIGINT');
  assert.equal((await service.waitForExit()).code, ExitCode.OK);
});

test('TERM while work is in flight finishes the work first, then exits 0', async (t) => {
  const service = start(t, {
    FIXTURE_JOB_MS: '1500',
    FIXTURE_TICK_MS: '100',
    LOG_LEVEL: 'debug',
  });
  const accepted = await service.waitFor('job accepted');
  service.signal('SIGTERM');
  await service.waitFor('stop requested');
  const processed = await service.waitFor(
    (l) => l.msg === 'job done' && l['jobId'] === accepted['jobId'],
  );
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.OK);
  const stopAt = service.lines.findIndex(byMsg('stop requested'));
  assert.ok(
    service.lines.indexOf(processed) > stopAt,
    'the job finished after the stop was requested',
  );
  const drain = service.lines.find((l) => l.msg === 'draining');
  assert.ok(drain, 'the drain step waited for the work');
  // The tally worker's last figure counts every job done, the drained ones included.
  const figures = service.lines.filter((l) => l.thread === 'tally' && l.msg === 'tally');
  assert.equal(
    figures.at(-1)?.['total'],
    service.lines.filter((l) => l.thread === 'main' && l.msg === 'job done').length,
    'the tally worker heard of every job done',
  );
});

test("a second TERM forces an immediate exit; the first one's echo (within a second) does not", async (t) => {
  const service = start(t, {
    FIXTURE_JOB_MS: '30000',
    FIXTURE_TICK_MS: '100',
    LOG_LEVEL: 'debug',
  });
  await service.waitFor('job accepted');
  service.signal('SIGTERM');
  // One at a time: two sent at once may arrive as one (a pending signal is not queued twice).
  await service.waitFor('stop requested');
  service.signal('SIGTERM');
  await service.waitFor('stop signal again within a second: the same stop');
  await service.waitFor('draining');
  assert.equal(service.child.exitCode, null, 'the echo forced nothing');
  service.signal('SIGTERM');
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.FORCED_TERM);
  assert.ok(service.lines.some(byMsg('second stop signal; forcing exit')));
});

const faults: Array<[string, number, RegExp]> = [
  [
    'worker-exit:cruncher',
    ExitCode.WORKER_FAILURE,
    /worker cruncher ended unexpectedly \((exit code 1|its channel closed)\)/,
  ],
  ['worker-throw:tally', ExitCode.APPLICATION_ERROR, /injected error in worker tally/],
  ['worker-hang:ticker', ExitCode.WORKER_FAILURE, /worker ticker is hung: no heartbeat/],
  [
    'dependency:startup',
    ExitCode.DEPENDENCY_FAILURE,
    /startup-dependency: injected start-up failure/,
  ],
];
for (const [fault, exitCode, cause] of faults) {
  test(`FAULT=${fault} ends with exit code ${exitCode} and says why`, async (t) => {
    const service = start(t, { FAULT: fault });
    const { code } = await service.waitForExit();
    assert.equal(code, exitCode, service.tail());
    const started = service.lines.find(byMsg('shutdown started'));
    assert.match(String((started?.['err'] as { message?: string } | undefined)?.message), cause);
    assert.equal(service.lines.find(byMsg('shutdown complete'))?.['exitCode'], exitCode);
  });
}

test('process.exit(0) called outside the shutdown (a dependency, a fork): one fatal line naming the caller, and exit 70, never 0', async (t) => {
  // Before the guard: exit 0 and no line, which a supervisor takes for a requested stop.
  const service = start(t, { FAULT: 'main-exit:0' });
  await service.waitFor('ready');
  assert.equal((await service.waitForExit()).code, ExitCode.APPLICATION_ERROR, service.tail());
  const fatal = service.lines.filter((l) => l.level === 'fatal');
  assert.equal(fatal.length, 1, service.tail());
  assert.equal(fatal[0]!.msg, 'process.exit() called outside the shutdown: no shutdown step ran');
  assert.equal(fatal[0]!['exitCode'], 0);
  assert.equal(fatal[0]!['replacedBy'], ExitCode.APPLICATION_ERROR);
  assert.match(String((fatal[0]!['caller'] as string[])[0]), /lifecycle\/faults\.js/);
  assert.equal(service.lines.find(byMsg('shutdown started')), undefined, 'no step ran');
});

test('process.exit(3) outside the shutdown keeps its code and is logged the same', async (t) => {
  const service = start(t, { FAULT: 'main-exit:3' });
  assert.equal((await service.waitForExit()).code, 3, service.tail());
  const fatal = service.lines.find((l) => l.level === 'fatal');
  assert.equal(fatal?.['exitCode'], 3);
  assert.equal(fatal?.['replacedBy'], undefined);
});

test('a misspelled variable (AMQP_PREFECTH), or a flag or policy variable nothing reads, is named in a warning, its value never; the service runs', async (t) => {
  const service = start(t, {
    AMQP_PREFECTH: 'odd-value-7f3a',
    shutdown_deadline_ms: '5000',
    FLAG_NOT_DECLARED: 'odd-value-7f3a',
    POLICY_NOWHERE_RETRIES_FILE: '/odd-value-7f3a',
  });
  await service.waitFor('ready');
  const suspects = service.lines.filter(
    (l) => l.msg === 'environment variable read by nothing here, close to one that is: not applied',
  );
  assert.deepEqual(
    suspects.map((l) => [l.level, l['variable'], l['meant']]),
    [
      ['warn', 'AMQP_PREFECTH', 'AMQP_PREFETCH'],
      ['warn', 'shutdown_deadline_ms', 'SHUTDOWN_DEADLINE_MS'],
    ],
  );
  // A flag or policy variable the config does not declare (or a fork's env map without
  // flagEnv/policyEnv) applies nothing either.
  assert.deepEqual(
    service.lines
      .filter((l) => String(l.msg).startsWith('environment variable named like a flag or policy'))
      .map((l) => [l.level, l['variable']]),
    [
      ['warn', 'FLAG_NOT_DECLARED'],
      ['warn', 'POLICY_NOWHERE_RETRIES_FILE'],
    ],
  );
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
  assert.ok(!JSON.stringify(service.lines).includes('odd-value-7f3a'));
});

test('a dependency failure is a warning, never an application error', async (t) => {
  const service = start(t, { FAULT: 'dependency:startup' });
  await service.waitForExit();
  const failure = service.lines.find(byMsg('dependency failure'));
  assert.equal(failure?.level, 'warn');
  assert.equal(
    service.lines.find((l) => l.level === 'error'),
    undefined,
  );
  assert.equal(service.lines.find(byMsg('ready')), undefined);
});

test('an injected worker error is logged by the worker thread with its stack', async (t) => {
  const service = start(t, { FAULT: 'worker-throw:tally' });
  await service.waitForExit();
  const error = service.lines.find((l) => l.msg === 'application error' && l.thread === 'tally');
  assert.equal(error?.level, 'error');
  assert.match(
    String((error?.['err'] as { stack?: string }).stack),
    /WorkerBaseError: injected error/,
  );
});

test('HUP turns debug logging on in every thread and off again', async (t) => {
  const service = start(t);
  await service.waitFor('ready');
  service.signal('SIGHUP');
  await service.waitFor((l) => l.msg === 'log level changed' && l['level'] === 'debug');
  await service.waitFor((l) => l.level === 'debug' && l.thread === 'ticker' && l.msg === 'tick');
  service.signal('SIGHUP');
  await service.waitFor((l) => l.msg === 'log level changed' && l['level'] === 'info');
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, 0);
});

test('past the escalation delay the open sockets are listed with where they were opened', async (t) => {
  const service = start(t, {
    FIXTURE_JOB_MS: '2500',
    FIXTURE_TICK_MS: '100',
    SHUTDOWN_ESCALATION_MS: '300',
    LOG_LEVEL: 'debug',
  });
  await service.waitFor('job accepted');
  service.signal('SIGTERM');
  const listing = await service.waitFor((l) =>
    String(l.msg).startsWith('shutdown is taking too long'),
  );
  const open = listing['open'] as {
    zmqSockets: Array<{ name: string; createdAt: string; endpoints: string[] }>;
    workers: Array<{ name: string }>;
    currentStep: string;
  };
  assert.equal(open.zmqSockets[0]?.name, 'fixture-publisher');
  assert.match(open.zmqSockets[0]?.createdAt ?? '', /test\/fixtures\/service\/service\.js:\d+:\d+/);
  assert.match(open.zmqSockets[0]?.endpoints[0] ?? '', /^tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(open.workers.map((w) => w.name).sort(), ['cruncher', 'tally']);
  assert.equal(open.currentStep, 'drain jobs');
  assert.ok(service.lines.some((l) => l.msg === 'log level changed' && l['level'] === 'debug'));
  assert.equal((await service.waitForExit()).code, ExitCode.OK);
});

test('a shutdown that cannot finish within the deadline ends with the deadline code, its steps cut to fit', async (t) => {
  const service = start(t, {
    FIXTURE_JOB_MS: '60000',
    FIXTURE_TICK_MS: '100',
    SHUTDOWN_ESCALATION_MS: '1500',
    SHUTDOWN_DEADLINE_MS: '3000',
    SHUTDOWN_STEP_TIMEOUT_MS: '2500',
    LOG_LEVEL: 'debug',
  });
  await service.waitFor('job accepted');
  service.signal('SIGTERM');
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.SHUTDOWN_DEADLINE);
  // The drain waits for a minute's job: cut to what the deadline leaves, it times out, and the
  // shutdown runs on to its end, saying the deadline.
  const cut = service.lines.find(
    byMsg('shutdown step cut short at the deadline; the rest run, and the exit says the deadline'),
  );
  assert.equal(cut?.['step'], 'drain jobs', service.tail());
  assert.equal(service.lines.find(byMsg('shutdown complete'))?.['exitCode'], 124);
});

test('a worker blocked in a system call cannot hold the exit: the process is killed, saying why', async (t) => {
  // terminate() stops JavaScript, not a read(2); process.exit() then waited for the thread
  // for ever: the deadline's exit hung, and the process with it (the main-thread watchdog,
  // off here, would have killed it 30 s later, and only while another worker ran). The exit
  // path ends it as soon as the steps are done.
  const service = start(t, {
    FAULT: 'worker-block:ticker',
    SHUTDOWN_STEP_TIMEOUT_MS: '500',
    SHUTDOWN_ESCALATION_MS: '1000',
    // Past the steps (0.5 s, a second for the termination) and the exit's 2 s wait for threads.
    SHUTDOWN_DEADLINE_MS: '10000',
    MAIN_STALL_LIMIT_MS: '0',
  });
  const { code, signal } = await service.waitForExit(20_000);
  assert.equal(signal, 'SIGKILL', `exit code ${code}: ${service.tail()}`);
  const started = service.lines.find(byMsg('shutdown started'));
  assert.match(
    String((started?.['err'] as { message?: string } | undefined)?.message),
    /worker ticker is hung: no heartbeat/,
  );
  const last = service.lines.at(-1);
  assert.equal(last?.level, 'fatal');
  assert.deepEqual(last?.['threads'], ['ticker']);
  // Once the steps are done: the hang's own code, not the deadline's (it no longer idles to it).
  assert.equal(last?.['exitCode'], ExitCode.WORKER_FAILURE);
  assert.equal(service.lines.filter(byMsg('shutdown deadline exceeded; exiting now')).length, 0);
});

test('a main thread stuck after the worker threads stopped cannot outlive the deadline: its sentinel kills it, saying why', async (t) => {
  // The deadline is main's timer and the watchdog lives in the worker threads: with those
  // stopped, a close step stuck in synchronous work ran past the deadline by as long as it
  // liked (measured: a 30 s stall, deadline 3 s, exit 31.5 s after TERM).
  const deadlineMs = 2000;
  const service = start(t, {
    FAULT: 'shutdown-stall:60000',
    SHUTDOWN_STEP_TIMEOUT_MS: '500',
    SHUTDOWN_ESCALATION_MS: '1000',
    SHUTDOWN_DEADLINE_MS: String(deadlineMs),
  });
  await service.waitFor('ready');
  const termAt = performance.now();
  service.signal('SIGTERM');
  const { code, signal } = await service.waitForExit(30_000);
  const tookMs = performance.now() - termAt;
  assert.equal(signal, 'SIGKILL', `exit code ${code}: ${service.tail()}`);
  const stalled = service.lines.findIndex(
    (l) => l.msg === 'shutdown step started' && l['step'] === 'fault drill shutdown-stall',
  );
  assert.ok(
    stalled > service.lines.findIndex(byMsg('worker exited')),
    'stalled after stop-workers',
  );
  const last = service.lines.at(-1);
  assert.equal(last?.level, 'fatal', service.tail());
  assert.equal(last?.['thread'], 'deadline-sentinel');
  assert.equal(last?.['deadlineMs'], deadlineMs);
  const graceMs = Number(last?.['graceMs']);
  // Not before the deadline's own exit had its time; long before the stall would have ended.
  assert.ok(tookMs >= deadlineMs + graceMs - 100, `killed ${Math.round(tookMs)} ms after TERM`);
  assert.ok(tookMs < 20_000, `killed ${Math.round(tookMs)} ms after TERM`);
});

test('a start-up that never reaches ready is a failure after STARTUP_TIMEOUT_MS: 70, named', async (t) => {
  // A set-up step awaiting what never comes, deaf to the shutdown: before the limit, the
  // process was never ready and never ended (and its supervisor, seeing it run, let it be).
  const service = start(t, {
    FAULT: 'hang:startup',
    STARTUP_TIMEOUT_MS: '1000',
    SHUTDOWN_STEP_TIMEOUT_MS: '500',
  });
  const { code } = await service.waitForExit(20_000);
  assert.equal(code, ExitCode.APPLICATION_ERROR, service.tail());
  assert.equal(service.lines.find(byMsg('ready')), undefined);
  const started = service.lines.find(byMsg('shutdown started'));
  const err = started?.['err'] as { message?: string; code?: string } | undefined;
  assert.equal(err?.code, 'E_STARTUP_TIMEOUT', service.tail());
  assert.match(String(err?.message), /within STARTUP_TIMEOUT_MS \(1000 ms\)/);
  // The shutdown waited for the start-up no longer than a step's timeout, then ran its steps.
  assert.ok(service.lines.some(byMsg('start-up did not settle in time; running the steps anyway')));
  assert.ok(service.lines.some(byMsg('shutdown complete')));
});

test('TERM during a start-up that hangs is still a requested stop: 0, and no start-up failure', async (t) => {
  // The shutdown waits up to a step's timeout (3 s) for the start-up, past its limit (1 s):
  // the limit, overtaken by the stop, must not turn it into a failure, and start-up's
  // sentinel (which would strike 1 s + its grace after start-up began) ends with the stop.
  const service = start(t, {
    FAULT: 'hang:startup',
    STARTUP_TIMEOUT_MS: '1000',
    SHUTDOWN_STEP_TIMEOUT_MS: '3000',
  });
  await service.waitFor('starting');
  assert.ok(hasStartupSentinel(service), 'start-up has its sentinel');
  service.signal('SIGTERM');
  await service.waitFor('shutdown started');
  // While the shutdown still waits for the start-up.
  await startupSentinelGone(service);
  assert.equal(service.lines.find(byMsg('shutdown complete')), undefined, service.tail());
  const { code } = await service.waitForExit(20_000);
  assert.equal(code, ExitCode.OK, service.tail());
  assert.equal(
    service.lines.find(
      (l) => (l['err'] as { code?: string } | undefined)?.code === 'E_STARTUP_TIMEOUT',
    ),
    undefined,
  );
});

test('a start-up stuck in synchronous work, before any worker thread, is killed by its sentinel, saying why', async (t) => {
  // Start-up's limit is a timer of the main thread, which a step stuck in synchronous work
  // never runs, and no worker thread is there yet to watch main: before the sentinel the
  // process was never ready and never ended, whatever STARTUP_TIMEOUT_MS said.
  const timeoutMs = 1000;
  const spawnedAt = performance.now();
  const service = start(t, { FAULT: 'stall:startup', STARTUP_TIMEOUT_MS: String(timeoutMs) });
  await service.waitFor('starting');
  const { code, signal } = await service.waitForExit(20_000);
  const tookMs = performance.now() - spawnedAt;
  assert.equal(signal, 'SIGKILL', `exit code ${code}: ${service.tail()}`);
  assert.equal(service.lines.find(byMsg('worker started')), undefined, service.tail());
  const last = service.lines.at(-1);
  assert.equal(last?.level, 'fatal', service.tail());
  assert.equal(last?.['thread'], startupSentinel);
  assert.equal(last?.['timeoutMs'], timeoutMs);
  assert.match(String(last?.msg), /^start-up outlived STARTUP_TIMEOUT_MS \(main thread stuck\)/);
  const graceMs = Number(last?.['graceMs']);
  // Counted from just before start-up began, so from the spawn it is at least as long (and
  // 'starting' may be seen late under load: no bound from there).
  assert.ok(tookMs >= timeoutMs + graceMs, `killed ${Math.round(tookMs)} ms after the spawn`);
  assert.ok(tookMs < 15_000, `killed ${Math.round(tookMs)} ms after the spawn`);
});

test('a service that reached ready has no start-up sentinel left to kill it', async (t) => {
  const service = start(t, { STARTUP_TIMEOUT_MS: '1000' });
  await service.waitFor('ready');
  await startupSentinelGone(service);
  service.signal('SIGTERM');
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.OK, service.tail());
});

test('a bad configuration exits 78 before starting, naming the key', async (t) => {
  const service = start(t, { SHUTDOWN_DEADLINE_MS: 'forty' });
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.CONFIG_ERROR);
  const text = service.stderr.join('\n');
  assert.match(text, /shutdown\.deadlineMs \(environment SHUTDOWN_DEADLINE_MS\) = "forty"/);
  assert.match(text, /expected an integer number of milliseconds/);
});

test('settings valid alone but not together exit 78 too: a readiness delay past the escalation', async (t) => {
  // Each valid alone; together every TERM ended in 124 (a restart instead of a stop).
  const service = start(t, {
    SHUTDOWN_READINESS_DELAY_MS: '5000',
    SHUTDOWN_ESCALATION_MS: '2000',
    SHUTDOWN_DEADLINE_MS: '3000',
  });
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.CONFIG_ERROR, service.tail());
  assert.match(
    service.stderr.join('\n'),
    /telemetry\.health\.readinessDelayMs \(environment SHUTDOWN_READINESS_DELAY_MS\) = "5000": must be less than shutdown\.escalationMs \(2000\)/,
  );
});

test('as PID 1 (a container with no init), the service refuses to run: 78, naming the fix', async () => {
  // A PID namespace of its own, the service its init: there the kernel ignores the SIGKILL of
  // its watchdog and sentinels. `unshare --fork` waits for it and exits with its code (and
  // kills it if the test's bound ends unshare).
  const ran = await runFile(
    'unshare',
    ['--pid', '--fork', '--kill-child', '--mount-proc', process.execPath, mainScript],
    { env: { PATH: process.env['PATH'] ?? '', ...testEnv() }, timeoutMs: 30_000 },
  );
  assert.equal(ran.code, ExitCode.CONFIG_ERROR, ran.stderr);
  assert.match(ran.stderr, /^the service runs as PID 1, where the kernel ignores the SIGKILL/m);
  assert.match(ran.stderr, /"pid":1,.*"exitCode":78/);
  assert.equal(ran.stdout, '');
});

test('no test in this file left a process behind', () => {
  // node:test runs a file's tests in order, each test's after() hooks before the next test.
  const alive = ServiceProcess.spawned.filter((p) => p.isAlive).map((p) => p.pid);
  assert.deepEqual(alive, []);
});
