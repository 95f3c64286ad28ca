import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CronitorPinger } from '../../src/lib/telemetry/cronitor.js';
import { HttpRecorder, type RecordedRequest } from '../helpers/http-recorder.js';
import { setTimeout as delay } from 'node:timers/promises';
import { captureLog } from '../helpers/capture-log.js';
import { forgetSecrets, rememberSecret } from '../../src/lib/primitives/secrets.js';

/** The real cronitor client, pointed at a loopback recorder through CRONITOR_PING_URL's path. */

const apiKey = 'test-api-key';

function pinger(recorder: HttpRecorder, log = captureLog().log, timeoutMs = 2000) {
  const p = new CronitorPinger({
    apiKey,
    pingUrl: `${recorder.baseUrl}/ping`,
    timeoutMs,
    app: 'cron-app',
    environment: 'test',
    log,
  });
  p.start();
  return p;
}

const query = (r: RecordedRequest): Record<string, string> =>
  Object.fromEntries(r.url.searchParams);

describe('cronitor pings', () => {
  const recorder = new HttpRecorder('ok');
  before(async () => {
    await recorder.start();
  });
  afterEach(() => {
    recorder.requests.length = 0;
    recorder.mode = 'ok';
  });
  after(async () => {
    await recorder.close();
  });

  test('a thread report with every thread alive is a complete ping with the thread count', async () => {
    const p = pinger(recorder);
    p.threadReport({ expected: 3, alive: 3, missing: [], vitals: {} });
    await p.close();
    assert.equal(recorder.requests.length, 1);
    const [ping] = recorder.requests;
    assert.equal(ping!.url.pathname, `/ping/${apiKey}/cron-app`);
    const q = query(ping!);
    assert.equal(q['state'], 'complete');
    assert.equal(q['message'], 'threads 3/3 alive');
    assert.equal(q['env'], 'test');
    assert.deepEqual(ping!.url.searchParams.getAll('metric'), ['count:3', 'error_count:0']);
  });

  test('a missing thread turns the ping to fail and names the thread', async () => {
    const p = pinger(recorder);
    p.threadReport({ expected: 3, alive: 2, missing: ['tally'], vitals: {} });
    await p.close();
    const q = query(recorder.requests[0]!);
    assert.equal(q['state'], 'fail');
    assert.equal(q['message'], 'threads 2/3 alive; missing: tally');
  });

  test('a job run is a run ping then a complete or fail ping of the same series', async () => {
    const p = pinger(recorder);
    p.run('nightly', 'series-1');
    p.complete('nightly', 'series-1', 12);
    p.run('nightly', 'series-2');
    p.fail('nightly', 'series-2', new TypeError('bad input'));
    await p.close();
    const pings = recorder.requests.map((r): Record<string, string> => ({
      path: r.url.pathname,
      ...query(r),
    }));
    assert.ok(pings.every((x) => x.path === `/ping/${apiKey}/cron-app-nightly`));
    const states = (series: string) =>
      pings.filter((x) => x['series'] === series).map((x) => x['state']);
    assert.deepEqual(states('series-1').sort(), ['complete', 'run']);
    assert.deepEqual(states('series-2').sort(), ['fail', 'run']);
    assert.equal(pings.find((x) => x['state'] === 'fail')?.['message'], 'TypeError: bad input');
  });

  test("a failed job's error is sent masked, as its log line is: a secret it quotes never leaves", async (t) => {
    rememberSecret('abcdefgh-token');
    t.after(() => forgetSecrets());
    const p = pinger(recorder);
    p.fail(
      'leaky',
      'series-3',
      new Error('calling https://svc:pw-in-url@api/x token abcdefgh-token'),
    );
    await p.close();
    const fail = recorder.requests.find((r) => r.url.searchParams.get('series') === 'series-3');
    const message = fail?.url.searchParams.get('message') ?? '';
    assert.match(message, /^Error: calling https:\/\/svc:\[Redacted\]@api\/x token \[Redacted\]$/);
  });

  test("fail() never throws: a job's error that cannot be printed is still sent as a fail ping", async () => {
    // String() and `.message` threw on these, out of the job's scope: the service exited 70.
    const getterThrows = new Error('unread');
    Object.defineProperty(getterThrows, 'message', {
      get() {
        throw new Error('no message');
      },
    });
    const values: Record<string, unknown> = {
      'null-prototype': Object.create(null) as object,
      'toString-throws': {
        toString() {
          throw new Error('no text');
        },
      },
      'message-getter-throws': getterThrows,
      'lone-surrogate': new Error('bad \uD800 text'),
      nothing: undefined,
    };
    const p = pinger(recorder);
    for (const [series, value] of Object.entries(values)) {
      assert.doesNotThrow(() => p.fail('odd', series, value), series);
    }
    await p.close();
    const messages: Record<string, string | undefined> = Object.fromEntries(
      recorder.requests.map((r) => [r.url.searchParams.get('series') ?? '', query(r)['message']]),
    );
    assert.deepEqual(Object.keys(messages).sort(), Object.keys(values).sort());
    assert.equal(messages['null-prototype'], 'Error: {}');
    assert.equal(messages['lone-surrogate'], 'Error: bad \uFFFD text');
    assert.equal(messages['nothing'], 'undefined');
    assert.equal(p.stats.failed, 0);
  });

  test("the start line names the ping URL's origin only, never its path", async (t) => {
    // With a trailing / the base was logged with its path: the secret remembered for the
    // whole value (as the config remembers it) did not match it (a review helper's drill).
    t.after(() => forgetSecrets());
    for (const path of ['/ping/s3cretPath/', '/ping/s3cretPath//', '/ping/s3cretPath']) {
      forgetSecrets();
      rememberSecret(`${recorder.baseUrl}${path}`);
      const { log, lines } = captureLog();
      const p = new CronitorPinger({
        apiKey,
        pingUrl: `${recorder.baseUrl}${path}`,
        timeoutMs: 2000,
        app: 'cron-app',
        environment: 'test',
        log,
      });
      p.start();
      await p.close();
      const started = lines.find((l) => l.msg === 'cronitor pings on');
      assert.equal(started?.['pingUrl'], recorder.baseUrl, path);
      assert.doesNotMatch(JSON.stringify(lines), /s3cretPath/, path);
    }
  });

  test('an endpoint answering 500 costs one warning, and nothing on the console', async (t) => {
    recorder.mode = 'error';
    const consoleErrors: unknown[] = [];
    t.mock.method(console, 'error', (...args: unknown[]) => consoleErrors.push(args));
    const { log, lines } = captureLog();
    const p = pinger(recorder, log);
    for (let i = 0; i < 5; i++) p.threadReport({ expected: 1, alive: 1, missing: [], vitals: {} });
    await p.close();
    assert.equal(recorder.requests.length, 5);
    assert.equal(p.stats.failed, 5);
    const warnings = lines.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0]!['status'], 500);
    assert.deepEqual(consoleErrors, [], 'the client must not print the request (API key) itself');
  });

  test('a ping is bounded whole: an endpoint that trickles its answer is cut at the timeout, its connection closed', async () => {
    // axios' timeout is the socket's idle time: a byte every 100 ms held each ping open for
    // good (41 sockets after 20 s in a review helper's drill), and no warning ever came.
    recorder.mode = 'trickle';
    const captured = captureLog();
    const p = pinger(recorder, captured.log, 300);
    p.serviceStarted(1);
    await recorder.waitFor(() => true);
    const started = performance.now();
    const warned = await captured.waitFor(
      'cronitor ping failed; further failures are counted, not logged',
      3000,
    );
    assert.equal(warned['error'], 'no answer within 300 ms');
    for (let i = 0; i < 50 && recorder.trickling > 0; i++) await delay(20);
    assert.equal(recorder.trickling, 0, 'the connection is closed');
    assert.ok(performance.now() - started < 1500);
    assert.deepEqual(p.stats, { sent: 0, failed: 1 });
    await p.close();
  });

  test('an answer is read to 64 KiB at most, and a redirect is not followed', async () => {
    // Read whole: 200 MB answers took a service a ping a second from 1 to 3.6 GB of RSS in
    // 12 s; and each ping followed 21 redirects (a review helper's drill).
    recorder.mode = 'huge';
    const huge = captureLog();
    const big = pinger(recorder, huge.log);
    big.serviceStarted(1);
    await big.close();
    assert.deepEqual(big.stats, { sent: 0, failed: 1 });
    assert.equal(
      (await huge.waitFor('cronitor ping failed; further failures are counted, not logged'))[
        'error'
      ],
      'maxContentLength size of 65536 exceeded',
    );
    recorder.mode = 'redirect';
    recorder.requests.length = 0;
    const moved = captureLog();
    const redirected = pinger(recorder, moved.log);
    redirected.serviceStarted(1);
    await redirected.close();
    assert.equal(recorder.requests.length, 1, recorder.describe());
    assert.deepEqual(redirected.stats, { sent: 0, failed: 1 });
    const warned = await moved.waitFor(
      'cronitor ping failed; further failures are counted, not logged',
    );
    assert.equal(warned['status'], 302);
  });

  test('a hanging endpoint cannot hold close() past its timeout', async () => {
    recorder.mode = 'hang';
    const p = pinger(recorder, captureLog().log, 30_000);
    p.serviceStarted(3);
    await recorder.waitFor(() => true);
    const started = performance.now();
    await p.close(200);
    assert.ok(performance.now() - started < 1000);
  });
});
