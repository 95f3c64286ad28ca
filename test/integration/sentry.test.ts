import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSentry, type SentryHandle } from '../../src/lib/telemetry/sentry.js';
import { withCorrelationId } from '../../src/lib/primitives/correlation.js';
import { SentryRecorder } from '../helpers/sentry-recorder.js';
import { captureLog } from '../helpers/capture-log.js';
import { forgetSecrets, rememberSecret } from '../../src/lib/primitives/secrets.js';

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

  test('a report is scrubbed before it is sent: known secrets, secret-named keys at any depth, URL userinfo', async () => {
    // Built at run time: the SDK sends the source lines around each frame (context lines),
    // and a literal here would be sent as source code, not as the value under test.
    const part = (...parts: string[]): string => parts.join('');
    const secret = part('Pa/ss@w"rd% 100 ', 'ünï');
    const [token, password, apiKey] = [
      part('tok-abc-', '123456'),
      part('hunter2', '-xyz'),
      part('k-777', '-abcdef'),
    ];
    rememberSecret(secret);
    try {
      const error = Object.assign(new Error(`login as svc with ${secret} failed`), {
        config: { headers: { authorization: `Bearer ${token}` } },
      });
      sentry.report(error, {
        thread: 'main',
        request: { url: `https://svc:${password}@api.example/v1`, apiKey },
      });
      assert.equal(await sentry.flush(), true);
    } finally {
      forgetSecrets();
    }
    const event = recorder.events.find((e) =>
      (e.exception?.values?.[0]?.value ?? '').startsWith('login as svc with'),
    );
    assert.ok(event, recorder.describe());
    assert.equal(event.exception?.values?.[0]?.value, 'login as svc with [Redacted] failed');
    // What went over the wire, whole envelopes, in any encoding the SDK chose.
    const sent = recorder.requests.map((r) => r.body.toString('utf8')).join('\n');
    for (const text of [part('ü', 'nï'), part('w\\', '"rd'), token, password, apiKey]) {
      assert.ok(!sent.includes(text), `${text} was sent to Sentry`);
    }
    assert.match(sent, /https:\/\/svc:\[Redacted\]@api\.example\/v1/);
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
