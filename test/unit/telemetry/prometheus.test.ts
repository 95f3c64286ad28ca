import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrometheusMetrics } from '../../../src/lib/telemetry/prometheus.js';
import { MetricNameError, createMetrics } from '../../../src/lib/telemetry/metrics.js';
import { captureLog } from '../../helpers/capture-log.js';

/**
 * The Prometheus sink on its own (no runtime figures: `start()` is not called): names as they
 * were recorded, timings in seconds from the API and from a scrape collector alike, and a bad
 * name in a collector failing the scrape instead of vanishing into a debug line.
 */

function prometheus(): PrometheusMetrics {
  return new PrometheusMetrics({
    log: captureLog().log,
    threadSnapshots: () => Promise.resolve([]),
  });
}

test('figures appear under the names they were recorded with, timings in seconds', async () => {
  const sink = prometheus();
  const metrics = createMetrics([sink], (collect) => sink.onScrape(collect));
  metrics.count('amqp_messages_processed_total', 2, { queue: 'in' });
  metrics.timing('amqp_message_latency_seconds', 250, { queue: 'in' });
  metrics.onScrape?.((m) => m.timing('job_duration_seconds', 40, { job_name: 'stats' }));
  const { body } = await sink.exposition();
  assert.match(body, /^amqp_messages_processed_total\{thread="main",queue="in"\} 2$/m);
  assert.match(body, /^amqp_message_latency_seconds_sum\{thread="main",queue="in"\} 0\.25$/m);
  assert.match(body, /^job_duration_seconds_sum\{thread="main",job_name="stats"\} 0\.04$/m);
});

test('a scrape collector with a name that breaks the convention fails the scrape', async () => {
  const sink = prometheus();
  sink.onScrape((m) => m.gauge('amqp.queue.in_flight', 1));
  await assert.rejects(sink.exposition(), MetricNameError);
});
