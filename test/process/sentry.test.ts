import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { SentryRecorder } from '../helpers/sentry-recorder.js';

/**
 * Sentry through the real service process and the real @sentry/node client, against a
 * loopback server that decodes the envelopes it receives.
 */

describe('Sentry error reports from the service', () => {
  const sentry = new SentryRecorder();
  const services: ServiceProcess[] = [];
  const start = (env: Record<string, string>, script?: string): ServiceProcess => {
    const service = new ServiceProcess({
      env: testEnv({ SENTRY_DSN: sentry.dsn, APP_VERSION: 'abc1234', ...env }),
      ...(script !== undefined && { script }),
    });
    services.push(service);
    return service;
  };

  before(async () => {
    await sentry.start();
  });
  after(async () => {
    for (const s of services) await s.stop();
    await sentry.close();
  });

  test('an injected worker error arrives once, with the worker thread tag and its stack', async () => {
    const before = sentry.events.length;
    const service = start({ FAULT: 'worker-throw:cruncher' });
    const { code } = await service.waitForExit(20_000);
    assert.equal(code, 70, service.tail());
    const events = sentry.events.slice(before);
    assert.equal(events.length, 1, JSON.stringify(events.map((e) => e.tags)));
    const event = events[0]!;
    assert.equal(event.tags?.['thread'], 'cruncher');
    assert.equal(event.tags?.['app'], 'worker-base');
    assert.equal(event.release, 'abc1234');
    assert.equal(event.environment, 'dev');
    const exception = event.exception?.values?.at(-1);
    assert.match(exception?.value ?? '', /injected error in worker cruncher/);
    const frames = exception?.stacktrace?.frames ?? [];
    assert.ok(
      frames.some((f) => (f.filename ?? '').includes('faults.js')),
      `stack frames name the raising module: ${JSON.stringify(frames)}`,
    );
  });

  test("a worker whose module throws as it loads: one report, of that error, tagged with the worker's thread", async () => {
    // It escaped the worker's scope, so main logged it only; the report was the start's
    // consequence, 'worker broken ended during start (exit code 1)', with no message or stack.
    const before = sentry.events.length;
    const fixture = fileURLToPath(new URL('../fixtures/stop-failures.js', import.meta.url));
    const service = start({ SCENARIO: 'broken-start' }, fixture);
    const { code } = await service.waitForExit(20_000);
    assert.equal(code, 70, service.tail());
    const events = sentry.events.slice(before);
    assert.equal(events.length, 1, JSON.stringify(events.map((e) => e.exception?.values)));
    const event = events[0]!;
    assert.equal(event.tags?.['thread'], 'broken');
    const exception = event.exception?.values?.at(-1);
    assert.equal(exception?.value, 'broken at load');
    const frames = exception?.stacktrace?.frames ?? [];
    assert.ok(
      frames.some((f) => (f.filename ?? '').includes('broken.worker.js')),
      JSON.stringify(frames),
    );
    const errors = service.lines.filter((l) => l.level === 'error');
    assert.deepEqual(
      errors.map((l) => [l.msg, l['worker']]),
      [['application error', 'broken']],
      service.tail(),
    );
  });

  test('an injected dependency failure sends nothing', async () => {
    const before = sentry.requests.length;
    const service = start({ FAULT: 'dependency:startup' });
    const { code } = await service.waitForExit(20_000);
    assert.equal(code, 69, service.tail());
    await service.waitFor('dependency failure');
    assert.equal(sentry.requests.length, before, sentry.describe());
  });

  test('an application error raised just before exit still arrives', async () => {
    const before = sentry.events.length;
    const service = start({ FAULT: 'error:startup' });
    const { code } = await service.waitForExit(20_000);
    assert.equal(code, 70, service.tail());
    const events = sentry.events.slice(before);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.tags?.['thread'], 'main');
    assert.match(events[0]!.exception?.values?.at(-1)?.value ?? '', /FAULT=error:startup/);
  });

  test('errors named on the ignore list are logged, not sent', async () => {
    const before = sentry.requests.length;
    const service = start({ FAULT: 'error:startup', SENTRY_IGNORE: 'WorkerBaseError' });
    const { code } = await service.waitForExit(20_000);
    assert.equal(code, 70, service.tail());
    await service.waitFor('application error');
    assert.equal(sentry.requests.length, before, sentry.describe());
  });
});

describe('a hanging Sentry endpoint', () => {
  const sentry = new SentryRecorder('hang');
  let service: ServiceProcess | undefined;
  before(async () => {
    await sentry.start();
  });
  after(async () => {
    await service?.stop();
    await sentry.close();
  });

  test('does not hold the exit: the service still exits with its own code, on time', async () => {
    service = new ServiceProcess({
      env: testEnv({
        SENTRY_DSN: sentry.dsn,
        SENTRY_FLUSH_TIMEOUT_MS: '500',
        SHUTDOWN_ESCALATION_MS: '4000',
        SHUTDOWN_DEADLINE_MS: '8000',
        FAULT: 'worker-throw:cruncher',
      }),
    });
    // 30 s: three worker threads' start-up took over 10 s under a full test run (CI: no
    // request within 15 s).
    await sentry.waitFor(() => true, 30_000);
    const started = performance.now();
    const { code } = await service.waitForExit(10_000);
    assert.equal(code, 70, service.tail());
    assert.ok(performance.now() - started < 8000, 'exited before the shutdown deadline');
  });
});
