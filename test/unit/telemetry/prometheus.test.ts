import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { PrometheusMetrics } from '../../../src/lib/telemetry/prometheus.js';
import { MetricNameError, createMetrics } from '../../../src/lib/telemetry/metrics.js';
import { loopDelayProbeMs, startLoopDelayProbe } from '../../../src/lib/primitives/loop-delay.js';
import { captureLog } from '../../helpers/capture-log.js';

/**
 * The Prometheus sink on its own (no runtime figures unless `start()` is called): names as they
 * were recorded, timings in seconds from the API and from a scrape collector alike, a bad name
 * in a collector failing the scrape instead of vanishing into a debug line, and the event-loop
 * figures read from the thread's loop-delay probe.
 */

/** The sink, on a loop-delay probe of its own that the test's end stops. */
function prometheus(t: TestContext): PrometheusMetrics {
  const loopDelay = startLoopDelayProbe();
  t.after(() => loopDelay.stop());
  return new PrometheusMetrics({
    log: captureLog().log,
    threadSnapshots: () => Promise.resolve([]),
    loopDelay,
  });
}

/** A figure of the exposition, for the main thread. */
function figure(body: string, name: string): number {
  const line = new RegExp(`^${name}\\{thread="main"\\} (\\S+)$`, 'm').exec(body);
  assert.ok(line, `${name} is not in the exposition`);
  return Number(line[1]);
}

/** A started sink whose thread was then blocked for 300 ms, with the probe run since. */
async function startedThenBlocked(t: TestContext): Promise<PrometheusMetrics> {
  const sink = prometheus(t);
  sink.start();
  await new Promise((resolve) => setTimeout(resolve, 120));
  const end = performance.now() + 300;
  while (performance.now() < end);
  await new Promise((resolve) => setTimeout(resolve, 120));
  return sink;
}

test('figures appear under the names they were recorded with, timings in seconds', async (t) => {
  const sink = prometheus(t);
  const metrics = createMetrics([sink], (collect) => sink.onScrape(collect));
  metrics.count('amqp_messages_processed_total', 2, { queue: 'in' });
  metrics.timing('amqp_message_latency_seconds', 250, { queue: 'in' });
  metrics.onScrape?.((m) => m.timing('job_duration_seconds', 40, { job_name: 'stats' }));
  const { body } = await sink.exposition();
  assert.match(body, /^amqp_messages_processed_total\{thread="main",queue="in"\} 2$/m);
  assert.match(body, /^amqp_message_latency_seconds_sum\{thread="main",queue="in"\} 0\.25$/m);
  assert.match(body, /^job_duration_seconds_sum\{thread="main",job_name="stats"\} 0\.04$/m);
});

test('a scrape collector with a name that breaks the convention fails the scrape', async (t) => {
  const sink = prometheus(t);
  sink.onScrape((m) => m.gauge('amqp.queue.in_flight', 1));
  await assert.rejects(sink.exposition(), MetricNameError);
});

test('the event-loop figures come from the probe: a block is read, an idle loop is on time', async (t) => {
  const sink = await startedThenBlocked(t);
  const blocked = (await sink.exposition()).body;
  assert.ok(
    figure(blocked, 'nodejs_eventloop_lag_max_seconds') >= 0.3 - loopDelayProbeMs / 1000,
    blocked,
  );
  await new Promise((resolve) => setTimeout(resolve, 400));
  const idle = (await sink.exposition()).body;
  // Node's own histogram reads the whole interval between its runs: 10 ms and more at idle.
  assert.ok(figure(idle, 'nodejs_eventloop_lag_min_seconds') < 0.005, idle);
  assert.ok(figure(idle, 'nodejs_eventloop_lag_max_seconds') < 0.25, idle);
  assert.equal(
    (idle.match(/^# HELP nodejs_eventloop_lag_p99_seconds /gm) ?? []).length,
    1,
    'one p99 series',
  );
});

test('the event-loop histogram is cumulative: a block stays in it whoever scraped since', async (t) => {
  const sink = await startedThenBlocked(t);
  const first = (await sink.exposition()).body;
  // Another reader (a second Prometheus, a curl) scrapes in between.
  await sink.exposition();
  await new Promise((resolve) => setTimeout(resolve, 250));
  const later = (await sink.exposition()).body;
  const bucket = (body: string, le: string): number =>
    Number(
      new RegExp(
        `^nodejs_eventloop_delay_seconds_bucket\\{le="${le.replace('+', '\\+')}",thread="main"\\} (\\S+)$`,
        'm',
      ).exec(body)?.[1],
    );
  for (const body of [first, later]) {
    // At least one run of the probe was 200 ms or more late: above the 0.1 s bucket.
    assert.ok(bucket(body, '+Inf') - bucket(body, '0.1') >= 1, body);
  }
  assert.ok(bucket(later, '+Inf') > bucket(first, '+Inf'), 'the runs since are counted');
  // The gauge's window was started anew by the scrape in between: the block is gone from it.
  assert.ok(figure(later, 'nodejs_eventloop_lag_max_seconds') < 0.2, later);
});
