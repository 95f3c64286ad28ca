import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSentry, type SentryHandle } from '../../src/lib/telemetry/sentry.js';
import { withCorrelationId } from '../../src/lib/correlation.js';
import { SentryRecorder } from '../helpers/sentry-recorder.js';
import { captureLog } from '../helpers/capture-log.js';

/** The Sentry reporter in this thread: the real @sentry/node client, a loopback envelope sink. */

describe('Sentry reporter', () => {
  const recorder = new SentryRecorder();
  let sentry: SentryHandle;
  before(async () => {
    await recorder.start();
    sentry = startSentry({
      dsn: recorder.dsn,
      app: 'reporter-test',
      thread: 'main',
      release: 'r1',
      environment: 'test',
      ignore: ['NoisyError', 'noisy-lib'],
      flushTimeoutMs: 2000,
      log: captureLog().log,
    });
  });
  after(async () => {
    await sentry.close();
    await recorder.close();
  });

  test('tags a report with app, thread, kind and the active correlation id', async () => {
    withCorrelationId('corr-42', () =>
      sentry.report(new Error('with correlation'), { thread: 'main', kind: 'unexpected' }),
    );
    assert.equal(await sentry.flush(), true);
    const event = recorder.events.find(
      (e) => e.exception?.values?.[0]?.value === 'with correlation',
    );
    assert.ok(event, recorder.describe());
    assert.deepEqual(
      { ...event.tags },
      { app: 'reporter-test', thread: 'main', kind: 'unexpected', correlationId: 'corr-42' },
    );
    assert.equal(event.release, 'r1');
    assert.ok(event.server_name);
  });

  test('skips errors whose name or logger component is on the ignore list', async () => {
    class NoisyError extends Error {
      override name = 'NoisyError';
    }
    const before = recorder.events.length;
    sentry.report(new NoisyError('by name'), {});
    sentry.report(new Error('by component'), { component: 'noisy-lib' });
    sentry.report(new Error('not ignored'), { component: 'pipeline' });
    assert.equal(await sentry.flush(), true);
    const values = recorder.events.slice(before).map((e) => e.exception?.values?.[0]?.value);
    assert.deepEqual(values, ['not ignored']);
  });
});

describe('Sentry reporter against a hanging endpoint', () => {
  const recorder = new SentryRecorder('hang');
  before(async () => {
    await recorder.start();
  });
  after(async () => {
    await recorder.close();
  });

  test('close() returns after its timeout and leaves no request open', async () => {
    const sentry = startSentry({
      dsn: recorder.dsn,
      app: 'hang-test',
      thread: 'main',
      release: 'r1',
      environment: 'test',
      ignore: [],
      flushTimeoutMs: 300,
      log: captureLog().log,
    });
    sentry.report(new Error('never acknowledged'), {});
    await recorder.waitForEvent();
    const started = performance.now();
    await sentry.close();
    assert.ok(performance.now() - started < 1500);
    const sockets = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap');
    assert.deepEqual(sockets, [], 'no client socket left to hold the process');
  });
});
