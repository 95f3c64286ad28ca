import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FlakyServer } from '../helpers/flaky-server.js';
import { ServiceProcess, sampleEnv } from '../helpers/service-process.js';

/**
 * The sample app's notifier, end to end in the real process: the `sampleNotify` flag turns it
 * on, each result is POSTed through the `sampleHttp` policy, and TERM in the middle of a long
 * backoff ends the process at once with the requested-stop code. (The core's side of this, an
 * app's call behind a policy and a flag, is test/process/resilience.test.ts on the fixture.)
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

  test('TERM during a long backoff exits within a second', async () => {
    server.plan([], 503);
    const service = start({
      FLAG_SAMPLE_NOTIFY: 'true',
      SAMPLE_HTTP_URL: server.url,
      POLICY_SAMPLE_HTTP_MAX_ATTEMPTS: '5',
      POLICY_SAMPLE_HTTP_BASE_DELAY_MS: '30000',
      POLICY_SAMPLE_HTTP_MAX_DELAY_MS: '60000',
    });
    const retrying = await service.waitFor('dependency call failed; retrying');
    assert.equal(retrying['policy'], 'sampleHttp');
    assert.ok(Number(retrying['delayMs']) >= 15_000, `backoff ${String(retrying['delayMs'])} ms`);
    const started = performance.now();
    service.signal('SIGTERM');
    const exit = await service.waitForExit(5_000);
    const tookMs = Math.round(performance.now() - started);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(tookMs < 1_000, `exited ${tookMs} ms after TERM`);
    const errors = service.lines.filter((l) => l.level === 'error' || l.level === 'fatal');
    assert.deepEqual(errors, [], 'an aborted backoff is no application error');
    console.log(`resilience.test: exit ${tookMs} ms after TERM during a 15-30 s backoff`);
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
