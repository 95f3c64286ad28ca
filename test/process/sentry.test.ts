import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { SentryRecorder } from '../helpers/sentry-recorder.js';

/**
 * Sentry through the real service process and the real @sentry/node client, against a
 * loopback server that decodes the envelopes it receives.
 */

describe('Sentry error reports from the service', () => {
  const sentry = new SentryRecorder();
  const services: ServiceProcess[] = [];
  const start = (env: Record<string, string>): ServiceProcess => {
    const service = new ServiceProcess({
      env: testEnv({ SENTRY_DSN: sentry.dsn, APP_VERSION: 'abc1234', ...env }),
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
    await sentry.waitFor(() => true, 15_000);
    const started = performance.now();
    const { code } = await service.waitForExit(10_000);
    assert.equal(code, 70, service.tail());
    assert.ok(performance.now() - started < 8000, 'exited before the shutdown deadline');
  });
});
