import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import {
  VictoriaMetrics,
  victoriaMetricsMissing,
  type ExportedSeries,
} from '../helpers/victoria-metrics.js';

/** The service's own metrics, written by the real client into a real VictoriaMetrics. */

const missing = victoriaMetricsMissing();
if (missing !== undefined) console.log(`# metrics: ${missing}`);

describe('service metrics in VictoriaMetrics', { skip: missing }, () => {
  const vm = new VictoriaMetrics();
  let service: ServiceProcess | undefined;
  before(async () => {
    await vm.start();
  });
  after(async () => {
    await service?.stop();
    await vm.stop();
  });

  test('thread vitals per thread, thread counts, message figures and shutdown duration arrive', async () => {
    const app = `metrics-${process.pid}`;
    service = new ServiceProcess({
      env: testEnv({
        APP_NAME: app,
        INFLUX_URL: vm.url,
        INFLUX_ORG: 'test',
        INFLUX_BUCKET: 'test',
        INFLUX_FLUSH_INTERVAL_MS: '100',
        THREAD_REPORT_INTERVAL_MS: '200',
      }),
    });
    // Three reports, 200 ms apart: every worker has sent a heartbeat (its vitals) by then.
    let reports = 0;
    await service.waitFor(
      (l) => l.msg === 'thread report' && l['alive'] === 3 && ++reports === 3,
      15_000,
    );
    await service.waitFor('job done');
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());

    // The names Prometheus shows, each with InfluxDB's one field, `value`.
    const names = [
      'thread_event_loop_delay_seconds_value',
      'thread_heap_used_bytes_value',
      'threads_alive_value',
      'threads_missing_value',
      'fixture_jobs_total_value',
      'fixture_job_seconds_value',
      'shutdown_duration_seconds_value',
      'shutdown_phase_duration_seconds_value',
      'crunch_seconds_value',
    ];
    const phaseNames = ['stop-intake', 'drain', 'stop-workers', 'close'];
    const mine = (all: ExportedSeries[]) => all.filter((s) => s.metric['app'] === app);
    const has = (all: ExportedSeries[], name: string, phase?: string) =>
      all.some(
        (s) =>
          s.metric['__name__'] === name && (phase === undefined || s.metric['phase'] === phase),
      );
    // Series become searchable one by one: wait for each phase too, not only for each name.
    const series = mine(
      await vm.exportWhen(
        '(thread|threads|fixture|shutdown|crunch)_.*',
        (all) =>
          names.every((n) => has(mine(all), n)) &&
          phaseNames.every((p) => has(mine(all), 'shutdown_phase_duration_seconds_value', p)),
        20_000,
      ),
    );
    const found = (name: string) => series.filter((s) => s.metric['__name__'] === name);
    const metricLines = service.lines.filter((l) => l['component'] === 'metrics');
    const seen = [...new Set(series.map((s) => s.metric['__name__']))];
    for (const name of names) {
      assert.ok(
        found(name).length > 0,
        `${name} arrived; seen ${JSON.stringify(seen)}; ${JSON.stringify(metricLines)}`,
      );
    }
    const threads = found('thread_event_loop_delay_seconds_value')
      .map((s) => s.metric['thread'])
      .sort();
    assert.deepEqual(threads, ['cruncher', 'main', 'tally', 'ticker']);
    assert.ok(found('threads_alive_value')[0]!.values.includes(3));
    const crunch = found('crunch_seconds_value')[0]!;
    assert.equal(crunch.metric['thread'], 'cruncher', 'a worker metric');
    // A crunch takes a few milliseconds: in seconds each is well below 1, in milliseconds >= 1.
    assert.ok(
      crunch.values.every((v) => v > 0 && v < 1),
      `crunch in seconds: ${JSON.stringify(crunch.values)}`,
    );
    assert.ok(found('thread_heap_used_bytes_value').every((s) => s.values.every((v) => v > 0)));
    assert.ok(found('shutdown_duration_seconds_value')[0]!.metric['host']);
    const phases = found('shutdown_phase_duration_seconds_value').map((s) => s.metric['phase']);
    for (const phase of phaseNames) {
      assert.ok(
        phases.includes(phase),
        `phase ${phase} in ${JSON.stringify(phases)}; ${JSON.stringify(metricLines)}`,
      );
    }
  });
});
