import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSentry, type SentryHandle } from '../../src/lib/telemetry/sentry.js';
import { SentryRecorder } from '../helpers/sentry-recorder.js';
import { FlakyServer } from '../helpers/flaky-server.js';
import { captureLog, type CapturedLog } from '../helpers/capture-log.js';

/**
 * The Sentry reporter (the real @sentry/node client) against loopback endpoints that stall,
 * fail now and then, or are slow when the reporter closes: reports flow again after an outage,
 * and an outage is one warning, never one for the reporter's own close.
 */

const unreachable = 'sentry unreachable; reports are dropped until it answers';

describe('the Sentry reporter against an endpoint that misbehaves', () => {
  let sentry: SentryHandle | undefined;
  const servers: Array<{ close?(): Promise<void>; stop?(): Promise<void> }> = [];
  afterEach(async () => {
    await sentry?.close();
    for (const server of servers.splice(0)) await (server.close ?? server.stop)?.call(server);
  });

  const start = (dsn: string, flushTimeoutMs: number): CapturedLog => {
    const captured = captureLog();
    sentry = startSentry({
      dsn,
      app: 'outage-test',
      thread: 'main',
      release: 'r1',
      environment: 'test',
      ignore: [],
      flushTimeoutMs,
      log: captured.log,
    });
    return captured;
  };
  const flaky = async (): Promise<{ server: FlakyServer; dsn: string }> => {
    const server = new FlakyServer();
    servers.push(server);
    const port = new URL(await server.start('sentry-outage')).port;
    return { server, dsn: `http://publickey@127.0.0.1:${port}/1` };
  };
  const warnings = (captured: CapturedLog) => captured.lines.filter((l) => l.msg === unreachable);

  test('an endpoint that stalls: reports flow again once it answers, and the outage is one warning', async () => {
    const recorder = new SentryRecorder('hang');
    servers.push(recorder);
    await recorder.start();
    const captured = start(recorder.dsn, 500);
    // More stalled reports than the client's buffer holds (64), each its own error.
    for (let i = 0; i < 80; i++) sentry!.report(new Error(`stalled ${i}`), { thread: 'main' });
    await recorder.waitFor(() => recorder.requests.length >= 64, 10_000);
    await captured.waitFor(unreachable);

    recorder.mode = 'ok';
    sentry!.report(new Error('after the outage'), { thread: 'main' });
    await recorder.waitForEvent(
      (e) => e.exception?.values?.[0]?.value === 'after the outage',
      10_000,
    );
    await captured.waitFor('sentry reachable again');
    assert.equal(warnings(captured).length, 1);
  });

  test('an endpoint that fails one request in three: one warning and one recovery line', async () => {
    const { server, dsn } = await flaky();
    server.plan(Array.from({ length: 30 }, (_, i) => (i % 3 === 2 ? 503 : 200)));
    const captured = start(dsn, 2000);
    for (let i = 0; i < 30; i++) {
      sentry!.report(new Error(`now and then ${i}`), { thread: 'main' });
      await server.waitForRequests(i + 1);
    }
    assert.equal(await sentry!.flush(), true);
    const recoveries = captured.lines.filter((l) => l.msg === 'sentry reachable again');
    assert.deepEqual([warnings(captured).length, recoveries.length], [1, 1]);
  });

  test('requests the close ends are no outage', async () => {
    const { server, dsn } = await flaky();
    server.plan(['hang', 'hang']);
    const captured = start(dsn, 2000);
    sentry!.report(new Error('before the close'), { thread: 'main' });
    await server.waitForRequests(1);
    // The close waits 300 ms, less than a request's own bound (2 s), then ends what is open.
    const closed = sentry!.close(300);
    sentry!.report(new Error('during the close'), { thread: 'main' });
    await server.waitForRequests(2);
    await closed;
    assert.deepEqual(warnings(captured), []);
  });
});
