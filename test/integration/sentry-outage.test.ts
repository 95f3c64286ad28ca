import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSentry, type SentryHandle } from '../../src/lib/telemetry/sentry.js';
import { SentryRecorder } from '../helpers/sentry-recorder.js';
import { captureLog, type CapturedLog } from '../helpers/capture-log.js';

/**
 * The Sentry reporter (the real @sentry/node client) against a loopback endpoint that stalls,
 * keeping every connection and answering none, then recovers.
 */

describe('a Sentry endpoint that stalls for a while', () => {
  const recorder = new SentryRecorder('hang');
  let sentry: SentryHandle;
  let captured: CapturedLog;
  before(async () => {
    await recorder.start();
    captured = captureLog();
    sentry = startSentry({
      dsn: recorder.dsn,
      app: 'outage-test',
      thread: 'main',
      release: 'r1',
      environment: 'test',
      ignore: [],
      flushTimeoutMs: 500,
      log: captured.log,
    });
  });
  after(async () => {
    await sentry.close();
    await recorder.close();
  });

  test('reports flow again once it answers, and the outage is one warning', async () => {
    // More stalled reports than the client's buffer holds (64), each its own error.
    for (let i = 0; i < 80; i++) sentry.report(new Error(`stalled ${i}`), { thread: 'main' });
    await recorder.waitFor(() => recorder.requests.length >= 64, 10_000);
    await captured.waitFor('sentry unreachable; reports are dropped until it answers');

    recorder.mode = 'ok';
    sentry.report(new Error('after the outage'), { thread: 'main' });
    await recorder.waitForEvent(
      (e) => e.exception?.values?.[0]?.value === 'after the outage',
      10_000,
    );
    await captured.waitFor('sentry reachable again');
    const warnings = captured.lines.filter(
      (l) => l.msg === 'sentry unreachable; reports are dropped until it answers',
    );
    assert.equal(warnings.length, 1);
  });
});
