import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { freePort, HttpRecorder } from '../helpers/http-recorder.js';
import { SentryRecorder } from '../helpers/sentry-recorder.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * cronitor pings and scheduled jobs from the real service process, and the service under a
 * monitoring outage: metrics store down, Sentry endpoint hanging, cronitor answering 500.
 */

describe('telemetry from the service', () => {
  const cronitor = new HttpRecorder('ok');
  let service: ServiceProcess | undefined;
  before(async () => {
    await cronitor.start();
  });
  after(async () => {
    await service?.stop();
    await cronitor.close();
  });

  test('the nanny pings cronitor, and each scheduled job run is pinged as run then complete', async () => {
    service = new ServiceProcess({
      env: testEnv({
        APP_NAME: 'pinged',
        CRONITOR_API_KEY: 'key123',
        CRONITOR_PING_URL: `${cronitor.baseUrl}/ping`,
        THREAD_REPORT_INTERVAL_MS: '200',
        FIXTURE_STATS_SCHEDULE: '* * * * * *',
      }),
    });
    const app = '/ping/key123/pinged';
    const job = '/ping/key123/pinged-job-stats';
    const state = (path: string, s: string) => (r: { url: URL }) =>
      r.url.pathname === path && r.url.searchParams.get('state') === s;
    await cronitor.waitFor(state(app, 'run'), 15_000);
    await cronitor.waitFor(state(app, 'complete'));
    await cronitor.waitFor(state(job, 'complete'), 5000);
    await service.waitFor('job stats');
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());

    const telemetry = cronitor.requests.find(state(app, 'complete'))!;
    assert.equal(telemetry.url.searchParams.get('message'), 'threads 3/3 alive');
    assert.deepEqual(telemetry.url.searchParams.getAll('metric'), ['count:3', 'error_count:0']);
    const jobPings = cronitor.requests.filter((r) => r.url.pathname === job);
    const completed = jobPings.find((r) => r.url.searchParams.get('state') === 'complete')!;
    const series = completed.url.searchParams.get('series');
    assert.ok(series);
    assert.deepEqual(
      jobPings
        .filter((r) => r.url.searchParams.get('series') === series)
        .map((r) => r.url.searchParams.get('state')),
      ['run', 'complete'],
    );
  });
});

describe('a monitoring outage', () => {
  const sentry = new SentryRecorder('hang');
  const cronitor = new HttpRecorder('error');
  let service: ServiceProcess | undefined;
  before(async () => {
    await sentry.start();
    await cronitor.start();
  });
  after(async () => {
    await service?.stop();
    await sentry.close();
    await cronitor.close();
  });

  test('does not stop the processing, and the service exits 0 on time after TERM', async () => {
    const deadlineMs = 8000;
    service = new ServiceProcess({
      env: testEnv({
        SENTRY_DSN: sentry.dsn,
        SENTRY_FLUSH_TIMEOUT_MS: '500',
        INFLUX_URL: `http://127.0.0.1:${await freePort()}`,
        INFLUX_ORG: 'o',
        INFLUX_BUCKET: 'b',
        INFLUX_FLUSH_INTERVAL_MS: '100',
        INFLUX_FLUSH_TIMEOUT_MS: '500',
        CRONITOR_API_KEY: 'k',
        CRONITOR_PING_URL: `${cronitor.baseUrl}/ping`,
        CRONITOR_TIMEOUT_MS: '500',
        THREAD_REPORT_INTERVAL_MS: '200',
        SHUTDOWN_ESCALATION_MS: '5000',
        SHUTDOWN_DEADLINE_MS: String(deadlineMs),
      }),
    });
    await service.waitFor(
      'metrics store unreachable; points are kept for retry (bounded), then dropped',
      15_000,
    );
    await service.waitFor('cronitor ping failed; further failures are counted, not logged');
    const processedBefore = service.lines.filter((l) => l.msg === 'job done').length;
    // Five more reports (and their failing pings and writes) while jobs keep flowing.
    let reports = 0;
    await service.waitFor((l) => l.msg === 'thread report' && ++reports === 5);
    const processedAfter = service.lines.filter((l) => l.msg === 'job done').length;
    assert.ok(processedAfter > processedBefore, 'jobs are still done during the outage');

    const stopAt = performance.now();
    service.signal('SIGTERM');
    const { code } = await service.waitForExit(deadlineMs + 2000);
    const tookMs = performance.now() - stopAt;
    assert.equal(code, 0, service.tail());
    assert.ok(tookMs < deadlineMs, `exited within the deadline (${Math.round(tookMs)} ms)`);
    const warnings = (msg: string) => service!.lines.filter((l) => l.msg === msg).length;
    assert.equal(
      warnings('metrics store unreachable; points are kept for retry (bounded), then dropped'),
      1,
    );
    assert.equal(warnings('cronitor ping failed; further failures are counted, not logged'), 1);
    assert.ok(service.lines.some((l) => l.msg === 'metrics closed; some were dropped'));
    console.log(`# outage: TERM to exit ${Math.round(tookMs)} ms`);
  });
});

describe('CRONITOR_TIMEOUT_MS against the shutdown deadline', () => {
  const cronitor = new HttpRecorder('hang');
  const services: ServiceProcess[] = [];
  before(async () => {
    await cronitor.start();
  });
  after(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await cronitor.close();
  });
  const env = (timeoutMs: string) =>
    testEnv({
      CRONITOR_API_KEY: 'k',
      CRONITOR_PING_URL: `${cronitor.baseUrl}/ping`,
      CRONITOR_TIMEOUT_MS: timeoutMs,
      THREAD_REPORT_INTERVAL_MS: '200',
      SHUTDOWN_ESCALATION_MS: '5000',
      SHUTDOWN_DEADLINE_MS: '6000',
    });

  test('past what the deadline leaves, the service refuses to start: 78, naming the key and why', async () => {
    // Before: it ran, and every TERM ended 124 (27 ms with a healthy collector: each step
    // before the flush got 1 ms; 6 s with a hanging one).
    const service = new ServiceProcess({ env: env('20000') });
    services.push(service);
    const { code } = await service.waitForExit();
    assert.equal(code, ExitCode.CONFIG_ERROR, service.tail());
    assert.match(
      service.stderr.join('\n'),
      /telemetry\.cronitor\.timeoutMs \(environment CRONITOR_TIMEOUT_MS\) = "20000": must be at most 1900 with shutdown\.deadlineMs \(SHUTDOWN_DEADLINE_MS\) 6000/,
    );
  });

  test('the largest it takes holds: pings hanging at the stop, TERM still ends 0 within the deadline', async () => {
    const service = new ServiceProcess({ env: env('1900') });
    services.push(service);
    await service.waitFor('ready', 15_000);
    await cronitor.waitFor(() => true, 5000);
    const stopAt = performance.now();
    service.signal('SIGTERM');
    const { code } = await service.waitForExit(8000);
    assert.equal(code, ExitCode.OK, service.tail());
    assert.ok(performance.now() - stopAt < 6000);
    const cutShort = (l: { msg?: string }) => l.msg?.startsWith('shutdown step cut short');
    assert.ok(!service.lines.some(cutShort), service.tail());
  });
});
