import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MetricNameError,
  createMetrics,
  metricNameProblem,
  noopMetrics,
  type MetricKind,
  type MetricSink,
  type MetricTags,
} from '../../../src/lib/telemetry/metrics.js';
import { PolicyMetrics } from '../../../src/lib/resilience/policy-monitor.js';

/**
 * The one metrics API: names are written in Prometheus' convention where they are recorded,
 * reach every sink unchanged, and a name that breaks the convention throws.
 */

type Seen = [MetricKind, string, number, MetricTags | undefined];

function recordingSinks(count: number): { seen: Seen[][]; sinks: MetricSink[] } {
  const seen: Seen[][] = Array.from({ length: count }, () => []);
  const sinks = seen.map((list) => ({
    record: (kind: MetricKind, name: string, value: number, tags: MetricTags | undefined) => {
      list.push([kind, name, value, tags]);
    },
  }));
  return { seen, sinks };
}

test('names that keep the convention pass for their kind', () => {
  const good: [MetricKind, string][] = [
    ['count', 'amqp_messages_processed_total'],
    ['count', 'job_skipped_total'],
    ['gauge', 'amqp_queue_depth'],
    ['gauge', 'thread_heap_used_bytes'],
    ['gauge', 'amqp_consumer_lag_seconds'],
    ['gauge', 'policy_breaker_open'],
    ['timing', 'amqp_message_latency_seconds'],
    ['timing', 'shutdown_duration_seconds'],
  ];
  for (const [kind, name] of good) assert.equal(metricNameProblem(kind, name), undefined, name);
});

test('a name that breaks the convention is refused with the rule it breaks', () => {
  const bad: [MetricKind, string, RegExp][] = [
    ['count', 'amqp.messages.processed', /snake_case/],
    ['gauge', 'threadsAlive', /snake_case/],
    ['gauge', 'queue__depth', /snake_case/],
    ['gauge', '_queue_depth', /snake_case/],
    ['timing', 'work_ms', /abbreviates a unit \('ms'\)/],
    ['gauge', 'consumer_lag_milliseconds', /base unit 'seconds'/],
    ['gauge', 'batch_kilobytes', /base unit 'bytes'/],
    ['gauge', 'uptime_hours', /base unit 'seconds'/],
    ['count', 'messages_processed', /counter: end it in '_total'/],
    ['gauge', 'threads_alive_total', /only counters/],
    ['timing', 'job_duration', /timing: end it in '_seconds'/],
    ['gauge', 'pipeline_events_count', /suffix Prometheus derives/],
    ['timing', 'latency_seconds_bucket', /'_bucket'/],
    ['gauge', 'process_heap_bytes', /runtime figures' prefix/],
    ['gauge', 'depth', /one word/],
    ['count', 'events_counter_total', /names its type/],
  ];
  for (const [kind, name, rule] of bad) {
    assert.match(metricNameProblem(kind, name) ?? 'accepted', rule, `${kind} ${name}`);
  }
});

test('every sink gets the name as written; timings in seconds; non-finite values dropped', () => {
  const { seen, sinks } = recordingSinks(2);
  const metrics = createMetrics(sinks);
  metrics.count('pipeline_events_total', 2, { outcome: 'processed' });
  metrics.timing('pipeline_processing_seconds', 5);
  metrics.gauge('amqp_queue_depth', Number.NaN);
  const expected = [
    ['count', 'pipeline_events_total', 2, { outcome: 'processed' }],
    ['timing', 'pipeline_processing_seconds', 0.005, undefined],
  ];
  assert.deepEqual(seen[0], expected);
  assert.deepEqual(seen[1], expected);
  assert.equal('onScrape' in metrics, false, 'no scrape hook without Prometheus');
});

test('a bad name or label throws at the call and reaches no sink, with sinks or without', () => {
  const { seen, sinks } = recordingSinks(1);
  for (const metrics of [createMetrics(sinks), noopMetrics]) {
    assert.throws(() => metrics.count('amqp.messages.processed'), MetricNameError);
    assert.throws(() => metrics.timing('work_ms', 40), /work_ms' abbreviates a unit/);
    assert.throws(() => metrics.gauge('amqp_queue_depth', 1, { job: 'x' }), /'job'.*reserved/);
    assert.throws(() => metrics.gauge('amqp_queue_depth', 1, { Queue: 'x' }), /snake_case/);
    // A name that passed once is still checked with other labels.
    metrics.gauge('amqp_queue_depth', 1, { queue: 'in' });
    assert.throws(() => metrics.gauge('amqp_queue_depth', 1, { le: '1' }), MetricNameError);
  }
  assert.deepEqual(seen[0], [['gauge', 'amqp_queue_depth', 1, { queue: 'in' }]]);
});

/**
 * Every name recorded in `src/` with its kind: the literal in `.count('…'`, `.gauge('…'` and
 * `.timing('…'`, and the value of `PolicyMetrics.X` in `.count(PolicyMetrics.X`.
 */
function namesInSource(): { kind: MetricKind; name: string; file: string }[] {
  const src = fileURLToPath(new URL('../../../../src/', import.meta.url));
  const call = /\.(count|gauge|timing)\(\s*(?:['"`]([^'"`]*)['"`]|PolicyMetrics\.([A-Z_]+))/g;
  const policy: Readonly<Record<string, string>> = PolicyMetrics;
  const found: { kind: MetricKind; name: string; file: string }[] = [];
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue;
    for (const m of readFileSync(join(src, file), 'utf8').matchAll(call)) {
      const name = m[2] ?? policy[m[3] ?? ''] ?? `unknown PolicyMetrics.${m[3] ?? ''}`;
      found.push({ kind: m[1] as MetricKind, name, file });
    }
  }
  return found;
}

test('every metric name written in src/ keeps the convention, paths no test takes included', () => {
  const found = namesInSource();
  const names = found.map((f) => f.name);
  // The scan sees the core's, the policies' and the app's emitters (or it proves nothing); the
  // sample's while src/app is the sample (a fork replaces it: test/fork runs this in a fork).
  const expected = ['amqp_messages_processed_total', 'policy_retry_delay_seconds'];
  if (found.some((f) => f.file.startsWith('app/workers/processor.worker'))) {
    expected.push('work_seconds');
  }
  for (const name of expected) {
    assert.ok(names.includes(name), `${name} found among ${names.join(', ')}`);
  }
  assert.ok(found.length >= 30, `${found.length} calls found`);
  const broken = found
    .map((f) => ({ ...f, problem: metricNameProblem(f.kind, f.name) }))
    .filter((f) => f.problem !== undefined);
  assert.deepEqual(broken, []);
});
