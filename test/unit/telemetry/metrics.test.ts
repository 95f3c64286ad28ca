import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createMetrics,
  normaliseMetric,
  type MetricKind,
  type MetricTags,
} from '../../../src/lib/telemetry/metrics.js';

/** The one metrics API: Prometheus' naming and base units, the same figures to every sink. */

test('names become snake_case in base units; counters end in _total, timings in _seconds', () => {
  assert.deepEqual(normaliseMetric('count', 'amqp.messages.processed', 1), {
    name: 'amqp_messages_processed_total',
    value: 1,
  });
  assert.deepEqual(normaliseMetric('count', 'jobs_total', 2), { name: 'jobs_total', value: 2 });
  assert.deepEqual(normaliseMetric('timing', 'amqp.message.latency', 250), {
    name: 'amqp_message_latency_seconds',
    value: 0.25,
  });
  assert.deepEqual(normaliseMetric('timing', 'work_ms', 40), { name: 'work_seconds', value: 0.04 });
  assert.deepEqual(normaliseMetric('timing', 'shutdown_duration_seconds', 1500), {
    name: 'shutdown_duration_seconds',
    value: 1.5,
  });
  assert.deepEqual(normaliseMetric('gauge', 'event_loop_delay_ms', 12), {
    name: 'event_loop_delay_seconds',
    value: 0.012,
  });
  assert.deepEqual(normaliseMetric('gauge', 'heap_used_bytes', 7), {
    name: 'heap_used_bytes',
    value: 7,
  });
});

test('every sink gets the same normalised figure; non-finite values are dropped', () => {
  const seen: Array<[MetricKind, string, number, MetricTags | undefined][]> = [[], []];
  const sinks = seen.map((list) => ({
    record: (kind: MetricKind, name: string, value: number, tags: MetricTags | undefined) => {
      list.push([kind, name, value, tags]);
    },
  }));
  const metrics = createMetrics(sinks);
  metrics.count('events', 2, { outcome: 'processed' });
  metrics.timing('latency', 5);
  metrics.gauge('depth', Number.NaN);
  const expected = [
    ['count', 'events_total', 2, { outcome: 'processed' }],
    ['timing', 'latency_seconds', 0.005, undefined],
  ];
  assert.deepEqual(seen[0], expected);
  assert.deepEqual(seen[1], expected);
  assert.equal('onScrape' in metrics, false, 'no scrape hook without Prometheus');
});
