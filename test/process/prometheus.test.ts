import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { freePort } from '../helpers/http-recorder.js';
import { Prometheus, prometheusMissing, promtoolCheck } from '../helpers/prometheus.js';
import { BrokerObserver, amqpSettings, createVhost, queues } from '../helpers/broker.js';

/**
 * GET /metrics of the real service: `promtool check metrics` finds nothing to say, and a real
 * Prometheus scrapes it and serves every thread's runtime figures, the nanny's thread counts
 * and the fixture's counters and histograms back through its query API.
 */

const missing = prometheusMissing();
if (missing !== undefined) console.log(`# prometheus: ${missing}`);

describe('Prometheus metrics', { skip: missing }, () => {
  const prometheus = new Prometheus();
  let service: ServiceProcess | undefined;
  let port = 0;
  before(async () => {
    port = await freePort();
    // A 1 s heartbeat: on a loaded machine a 200 ms one can read as a hung worker. The
    // fixture's scheduled job every second, so its figures are there early.
    service = new ServiceProcess({
      env: testEnv({
        HEALTH_PORT: String(port),
        HEARTBEAT_MS: '1000',
        FIXTURE_STATS_SCHEDULE: '* * * * * *',
      }),
    });
    await service.waitFor('ready', 15_000);
    await prometheus.start(`127.0.0.1:${port}`);
  });
  after(async () => {
    await service?.stop();
    await prometheus.stop();
  });

  test('the exposition passes promtool check metrics and carries every thread', async () => {
    await service!.waitFor('job done', 10_000);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const check = promtoolCheck(text);
    assert.equal(check.output, '', 'promtool has nothing to say');
    assert.equal(check.status, 0);
    for (const thread of ['main', 'cruncher', 'tally', 'ticker']) {
      assert.match(text, new RegExp(`^thread_cpu_seconds_total\\{thread="${thread}"\\} `, 'm'));
      assert.match(text, new RegExp(`^nodejs_heap_size_used_bytes\\{thread="${thread}"\\} `, 'm'));
      // The probe's runs, cumulative, from every thread's own registry.
      assert.match(
        text,
        new RegExp(`^nodejs_eventloop_delay_seconds_count\\{thread="${thread}"\\} [1-9]`, 'm'),
      );
    }
    // Process-wide figures once, from the main thread.
    assert.equal(text.match(/^process_resident_memory_bytes\{/gm)?.length, 1);
    assert.match(text, /^fixture_jobs_total\{thread="main",outcome="done"\} [1-9]/m);
    assert.match(text, /^fixture_job_seconds_bucket\{.*le="\+Inf"/m);
    assert.match(text, /^crunch_seconds_count\{thread="cruncher"\} [1-9]/m);
  });

  test('a real Prometheus scrapes it and serves the series back', async () => {
    const up = await prometheus.queryWhen('up{job="service"}', (r) => r[0]?.value[1] === '1');
    assert.equal(
      up[0]?.value[1],
      '1',
      `target up; prometheus said:\n${prometheus.output.join('\n')}`,
    );
    const cpu = await prometheus.queryWhen('thread_cpu_seconds_total', (r) => r.length === 4);
    assert.deepEqual(cpu.map((r) => r.metric['thread']).sort(), [
      'cruncher',
      'main',
      'tally',
      'ticker',
    ]);
    const alive = await prometheus.queryWhen('threads_alive', (r) => r.length === 1);
    assert.equal(alive[0]?.value[1], '3');
    const processed = await prometheus.queryWhen(
      'fixture_jobs_total{outcome="done"}',
      (r) => Number(r[0]?.value[1]) > 0,
    );
    assert.ok(Number(processed[0]?.value[1]) > 0, JSON.stringify(processed));
    const p99 = await prometheus.queryWhen(
      'histogram_quantile(0.99, sum by (le) (rate(fixture_job_seconds_bucket[5s])))',
      (r) => Number.isFinite(Number(r[0]?.value[1])),
    );
    const seconds = Number(p99[0]?.value[1]);
    assert.ok(seconds > 0 && seconds < 10, `p99 processing ${seconds} s`);
    // The scheduler labels its figures job_name: Prometheus keeps `job` for the scrape job and
    // would have renamed ours exported_job.
    const jobs = await prometheus.queryWhen('job_duration_seconds_count', (r) => r.length > 0);
    assert.deepEqual(jobs[0]?.metric, {
      __name__: 'job_duration_seconds_count',
      instance: `127.0.0.1:${port}`,
      job: 'service',
      job_name: 'job-stats',
      thread: 'main',
    });
  });
});

describe('Prometheus metrics of the AMQP pipeline', { skip: missing }, () => {
  test('consumer count, messages in hand, input queue depth and message counters', async (t) => {
    const vhost = await createVhost('prometheus');
    t.after(() => vhost.remove());
    const observer = await BrokerObserver.open(vhost.url);
    t.after(() => observer.close());
    await observer.assertQueue(queues.input);
    await observer.publish(
      queues.input,
      Array.from({ length: 300 }, (_, i) => JSON.stringify({ id: `m-${i}`, text: 'x' })),
    );
    const port = await freePort();
    const service = new ServiceProcess({
      env: testEnv(
        amqpSettings(vhost.url, {
          HEALTH_PORT: String(port),
          HEARTBEAT_MS: '1000',
          AMQP_PREFETCH: '10',
          AMQP_STATS_INTERVAL_MS: '200',
          FIXTURE_JOB_MS: '20',
        }),
      ),
    });
    t.after(() => service.stop());
    // The statistics come every 200 ms: wait for their log line, then read the exposition.
    await service.waitFor((l) => l.msg === 'queue stats' && Number(l['depth']) > 0, 15_000);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (name: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
      assert.ok(line, `${name} in the exposition`);
      return Number(line.split(' ').at(-1));
    };
    assert.ok(value('amqp_queue_depth') > 0, 'the input queue depth, the scaling metric');
    assert.equal(value('amqp_queue_consumers'), 1);
    assert.ok(value('amqp_queue_in_flight') <= 10, 'messages in hand, within the prefetch');
    assert.ok(value('amqp_messages_processed_total') > 0);
    assert.ok(value('amqp_messages_received_total') >= value('amqp_messages_processed_total'));
    assert.match(text, /^amqp_message_latency_seconds_bucket\{/m);
    assert.equal(promtoolCheck(text).output, '');
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit(20_000)).code, 0, service.tail());
  });
});
