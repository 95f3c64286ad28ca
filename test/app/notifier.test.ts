import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FlakyServer } from '../helpers/flaky-server.js';
import { ServiceProcess, sampleEnv } from '../helpers/service-process.js';

/**
 * The sample app's notifier, end to end in the real process: the `sampleNotify` flag turns it
 * on and each result is POSTed through the `sampleHttp` policy; off, nothing is sent. (The
 * core's side of this, an app's call behind a policy and a flag, TERM in the middle of a long
 * backoff included, is test/process/resilience.test.ts on the fixture.)
 */

describe('sample service: notifier behind a policy and a flag', () => {
  const server = new FlakyServer();
  const services: ServiceProcess[] = [];
  before(() => server.start('resilience.test'));
  after(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await server.stop();
  });

  function start(env: Record<string, string>): ServiceProcess {
    const service = new ServiceProcess({ app: 'sample', env: sampleEnv(env) });
    services.push(service);
    return service;
  }

  /**
   * The sample notifying a server that never answers, at debug: `first` is the count of
   * requests the server had before, so the test can wait for the service's own.
   */
  function startNotifyingIntoSilence(extra: Record<string, string> = {}) {
    server.plan([], 'hang');
    const first = server.requests.length;
    const service = start({
      FLAG_SAMPLE_NOTIFY: 'true',
      SAMPLE_HTTP_URL: server.url,
      POLICY_SAMPLE_HTTP_TIMEOUT_MS: '60000',
      LOG_LEVEL: 'debug',
      ...extra,
    });
    return { service, first };
  }

  test('with the flag on, each result is POSTed with its correlation id; the flag is logged at start-up', async () => {
    server.plan([], 200);
    const first = server.requests.length;
    const service = start({ FLAG_SAMPLE_NOTIFY: 'true', SAMPLE_HTTP_URL: server.url });
    const starting = await service.waitFor('starting');
    assert.deepEqual(starting['flags'], { sampleNotify: true });
    await server.waitForRequests(first + 3);
    const request = server.requests[first];
    assert.ok(request);
    assert.equal(request.method, 'POST');
    const body = JSON.parse(request.body) as { eventId?: string; digest?: string };
    assert.equal(typeof body.eventId, 'string');
    assert.match(String(request.headers['x-correlation-id']), /.+/);
    service.signal('SIGTERM');
    assert.deepEqual(await service.waitForExit(), { code: 0, signal: null });
  });

  test('TERM with notifications in flight ends them as cancelled, quietly: no warning, exit 0', async () => {
    // The stop's abort reason was a plain Error: each notification it cut short was
    // 'unexpected' and warned (1,691 warn lines at one TERM, notifications to a server that
    // did not answer, measured).
    const { service, first } = startNotifyingIntoSilence();
    await server.waitForRequests(first + 5);
    service.signal('SIGTERM');
    assert.deepEqual(await service.waitForExit(), { code: 0, signal: null });
    const failed = service.lines.filter((l) => l.msg === 'notification failed');
    assert.ok(failed.length >= 5, `${failed.length} notifications cut short`);
    for (const line of failed) {
      assert.equal(line.level, 'debug', JSON.stringify(line));
      assert.equal(line['kind'], 'transient');
      assert.equal((line['err'] as { message?: string }).message, 'stop requested: SIGTERM');
    }
    const warned = service.lines.filter((l) => l.level === 'warn' || l.level === 'error');
    assert.deepEqual(warned, []);
  });

  test("a failure's stop with notifications in flight: each is cut short quietly, the failure is what is said", async () => {
    // The stop aborts with the failure (here a worker that exits): each notification it cut
    // short warned 'notification failed' with that failure, kind 'unexpected'.
    const { service, first } = startNotifyingIntoSilence({ FAULT: 'worker-exit:stats' });
    const { code } = await service.waitForExit(20_000);
    assert.notEqual(code, 0, service.tail());
    assert.ok(server.requests.length > first, 'notifications were in flight');
    const failed = service.lines.filter((l) => l.msg === 'notification failed');
    assert.ok(failed.length > 0, service.tail());
    assert.deepEqual(
      failed.filter((l) => l.level !== 'debug'),
      [],
      'a notification the stop cut short is no warning',
    );
  });

  test('with the flag off (the default), nothing is sent', async () => {
    const first = server.requests.length;
    const service = start({ SAMPLE_HTTP_URL: server.url });
    let processed = 0;
    await service.waitFor((l) => l.msg === 'event processed' && ++processed === 3);
    service.signal('SIGTERM');
    assert.deepEqual(await service.waitForExit(), { code: 0, signal: null });
    assert.equal(server.requests.length, first);
  });
});
