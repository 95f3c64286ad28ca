import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, testEnv, type LogLine } from '../helpers/service-process.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/** The built service as a real child process, stopped with real signals. */

function start(
  t: { after: (fn: () => Promise<void>) => void },
  env: Record<string, string> = {},
): ServiceProcess {
  const service = new ServiceProcess({ env: testEnv(env) });
  t.after(() => service.stop());
  return service;
}

const byMsg = (msg: string) => (l: LogLine) => l.msg === msg;

test('ready names every worker and the ZeroMQ endpoint; TERM when idle exits 0 by itself', async (t) => {
  const service = start(t, { SAMPLE_EVENT_INTERVAL_MS: '60000' });
  const ready = await service.waitFor('ready');
  assert.deepEqual(ready['workers'], ['processor', 'stats', 'producer']);
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
    'stop producer',
    'stop scheduled jobs',
    'drain pipeline',
    'stop worker threads',
    'close zmq sockets',
    'flush telemetry',
    'flush logs',
  ]);
  for (const worker of ['producer', 'stats', 'processor']) {
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
    SAMPLE_WORK_MS: '1500',
    SAMPLE_EVENT_INTERVAL_MS: '100',
    LOG_LEVEL: 'debug',
  });
  const accepted = await service.waitFor('event accepted');
  service.signal('SIGTERM');
  await service.waitFor('stop requested');
  const processed = await service.waitFor(
    (l) => l.msg === 'event processed' && l['eventId'] === accepted['eventId'],
  );
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.OK);
  const stopAt = service.lines.findIndex(byMsg('stop requested'));
  assert.ok(
    service.lines.indexOf(processed) > stopAt,
    'the event finished after the stop was requested',
  );
  const drain = service.lines.find((l) => l.msg === 'draining');
  assert.ok(drain, 'the drain step waited for the work');
  // The stats worker's last figures count every processed event, the drained ones included.
  const figures = service.lines.filter((l) => l.thread === 'stats' && l.msg === 'throughput');
  assert.equal(
    figures.at(-1)?.['total'],
    service.lines.filter((l) => l.thread === 'main' && l.msg === 'event processed').length,
    'the stats worker heard of every processed event',
  );
});

test('a second TERM forces an immediate exit', async (t) => {
  const service = start(t, {
    SAMPLE_WORK_MS: '30000',
    SAMPLE_EVENT_INTERVAL_MS: '100',
    LOG_LEVEL: 'debug',
  });
  await service.waitFor('event accepted');
  service.signal('SIGTERM');
  await service.waitFor('draining');
  service.signal('SIGTERM');
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.FORCED_TERM);
  assert.ok(service.lines.some(byMsg('second stop signal; forcing exit')));
});

const faults: Array<[string, number, RegExp]> = [
  [
    'worker-exit:processor',
    ExitCode.WORKER_FAILURE,
    /worker processor ended unexpectedly \((exit code 1|its channel closed)\)/,
  ],
  ['worker-throw:stats', ExitCode.APPLICATION_ERROR, /injected error in worker stats/],
  ['worker-hang:producer', ExitCode.WORKER_FAILURE, /worker producer is hung: no heartbeat/],
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
  const service = start(t, { FAULT: 'worker-throw:stats' });
  await service.waitForExit();
  const error = service.lines.find((l) => l.msg === 'application error' && l.thread === 'stats');
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
  await service.waitFor(
    (l) => l.level === 'debug' && l.thread === 'producer' && l.msg === 'event produced',
  );
  service.signal('SIGHUP');
  await service.waitFor((l) => l.msg === 'log level changed' && l['level'] === 'info');
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, 0);
});

test('past the escalation delay the open sockets are listed with where they were opened', async (t) => {
  const service = start(t, {
    SAMPLE_WORK_MS: '2500',
    SAMPLE_EVENT_INTERVAL_MS: '100',
    SHUTDOWN_ESCALATION_MS: '300',
    LOG_LEVEL: 'debug',
  });
  await service.waitFor('event accepted');
  service.signal('SIGTERM');
  const listing = await service.waitFor((l) =>
    String(l.msg).startsWith('shutdown is taking too long'),
  );
  const open = listing['open'] as {
    zmqSockets: Array<{ name: string; createdAt: string; endpoints: string[] }>;
    workers: Array<{ name: string }>;
    currentStep: string;
  };
  assert.equal(open.zmqSockets[0]?.name, 'results-publisher');
  assert.match(open.zmqSockets[0]?.createdAt ?? '', /src\/app\/service\.js:\d+:\d+/);
  assert.match(open.zmqSockets[0]?.endpoints[0] ?? '', /^tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(open.workers.map((w) => w.name).sort(), ['processor', 'stats']);
  assert.equal(open.currentStep, 'drain pipeline');
  assert.ok(service.lines.some((l) => l.msg === 'log level changed' && l['level'] === 'debug'));
  assert.equal((await service.waitForExit()).code, ExitCode.OK);
});

test('the hard deadline ends a shutdown that does not finish, with the deadline code', async (t) => {
  const service = start(t, {
    SAMPLE_WORK_MS: '60000',
    SAMPLE_EVENT_INTERVAL_MS: '100',
    SHUTDOWN_ESCALATION_MS: '200',
    SHUTDOWN_DEADLINE_MS: '600',
    SHUTDOWN_STEP_TIMEOUT_MS: '30000',
    LOG_LEVEL: 'debug',
  });
  await service.waitFor('event accepted');
  service.signal('SIGTERM');
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.SHUTDOWN_DEADLINE);
  assert.ok(service.lines.some(byMsg('shutdown deadline exceeded; exiting now')));
});

test('a bad configuration exits 78 before starting, naming the key', async (t) => {
  const service = start(t, { SHUTDOWN_DEADLINE_MS: 'forty' });
  const { code } = await service.waitForExit();
  assert.equal(code, ExitCode.CONFIG_ERROR);
  const text = service.stderr.join('\n');
  assert.match(text, /shutdown\.deadlineMs \(environment SHUTDOWN_DEADLINE_MS\) = "forty"/);
  assert.match(text, /expected an integer number of milliseconds/);
});

test('no test in this file left a process behind', () => {
  // node:test runs a file's tests in order, each test's after() hooks before the next test.
  const alive = ServiceProcess.spawned.filter((p) => p.isAlive).map((p) => p.pid);
  assert.deepEqual(alive, []);
});
