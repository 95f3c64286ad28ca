import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  InfluxMetrics,
  type InfluxMetricsOptions,
} from '../../src/lib/telemetry/influx-metrics.js';
import { createMetrics } from '../../src/lib/telemetry/metrics.js';
import { VictoriaMetrics, victoriaMetricsMissing } from '../helpers/victoria-metrics.js';
import { captureLog } from '../helpers/capture-log.js';
import { freePort, HttpRecorder } from '../helpers/http-recorder.js';
import { SlowProxy } from '../helpers/slow-proxy.js';
import { createServer, type ServerResponse } from 'node:http';
import { once } from 'node:events';

/**
 * InfluxMetrics through the real @influxdata/influxdb-client, against a real VictoriaMetrics
 * on loopback (its /api/v2/write), and against a store that is down or hanging.
 */

const unreachable = 'metrics store unreachable; points are kept for retry (bounded), then dropped';
const missing = victoriaMetricsMissing();
if (missing !== undefined) console.log(`# influx-metrics: ${missing}`);

function options(url: string, extra: Partial<InfluxMetricsOptions> = {}): InfluxMetricsOptions {
  return {
    url,
    token: 'test-token',
    org: 'test',
    bucket: 'test',
    batchSize: 100,
    flushIntervalMs: 100,
    maxBufferPoints: 1000,
    timeoutMs: 1000,
    flushTimeoutMs: 1000,
    tags: { app: 'metrics-test', host: 'test-host' },
    log: captureLog().log,
    ...extra,
  };
}

describe('InfluxDB metrics into VictoriaMetrics', { skip: missing }, () => {
  const vm = new VictoriaMetrics();
  before(async () => {
    await vm.start();
  });
  after(async () => {
    await vm.stop();
  });

  test('counts, gauges and timings arrive under their own names, tagged, in base units', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const metrics = new InfluxMetrics(options(vm.url));
    metrics.start();
    const api = createMetrics([metrics]);
    api.count(`${prefix}_processed_total`);
    api.count(`${prefix}_processed_total`, 2);
    api.gauge(`${prefix}_loop_delay_seconds`, 0.0125, { thread: 'cruncher' });
    api.timing(`${prefix}_latency_seconds`, 42);
    await metrics.close();
    assert.equal(metrics.dropped, 0);
    assert.equal(metrics.written, 4);

    const series = await vm.exportWhen(`${prefix}_.*`, (s) => s.length === 3);
    const byName = new Map(series.map((s) => [s.metric['__name__'], s]));
    // One field, `value`, whatever the kind: VictoriaMetrics names the series `<name>_value`.
    const processed = byName.get(`${prefix}_processed_total_value`);
    assert.ok(processed, JSON.stringify(series));
    assert.deepEqual(processed?.values.toSorted(), [1, 2]);
    assert.equal(processed?.metric['app'], 'metrics-test');
    assert.equal(processed?.metric['host'], 'test-host');
    assert.equal(processed?.metric['thread'], 'main');
    const delay = byName.get(`${prefix}_loop_delay_seconds_value`);
    assert.deepEqual(delay?.values, [0.0125]);
    assert.equal(delay?.metric['thread'], 'cruncher');
    assert.deepEqual(byName.get(`${prefix}_latency_seconds_value`)?.values, [0.042], 'seconds');
  });

  test('a tag value with a backslash, trailing or inside, arrives as it is and leaves the next tag alone', async () => {
    // The client escapes commas, spaces and equals signs, not the backslash: `trail\` then
    // escaped the comma after it, and the store read queue="trail\,thread=main".
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const metrics = new InfluxMetrics(options(vm.url));
    metrics.start();
    const api = createMetrics([metrics]);
    api.gauge(`${prefix}_depth`, 1, { queue: 'trail\\' });
    api.gauge(`${prefix}_size`, 2, { queue: 'mid\\dle,x y' });
    await metrics.close();
    assert.equal(metrics.written, 2);
    const series = await vm.exportWhen(`${prefix}_.*`, (s) => s.length === 2);
    const tags: Record<string, unknown> = Object.fromEntries(
      series.map((x): [string, unknown] => [
        String(x.metric['__name__']),
        [x.metric['queue'], x.metric['thread']],
      ]),
    );
    assert.deepEqual(tags, {
      [`${prefix}_depth_value`]: ['trail\\', 'main'],
      [`${prefix}_size_value`]: ['mid\\dle,x y', 'main'],
    });
  });

  test('close() waits for a write already on its way, not only for the batch it sends', async () => {
    // The client's periodic write is fire-and-forget and its flush() does not wait for it;
    // close() ended the connections under it, and its points were lost. The first connection
    // to the store is held 1.5 s, so that write is still out when close() runs.
    const proxy = new SlowProxy({ host: '127.0.0.1', port: Number(new URL(vm.url).port) }, (n) =>
      n === 0 ? 1500 : 0,
    );
    const port = await proxy.start();
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const metrics = new InfluxMetrics(
      options(`http://127.0.0.1:${port}`, { flushIntervalMs: 50, flushTimeoutMs: 5000 }),
    );
    try {
      metrics.start();
      const api = createMetrics([metrics]);
      api.gauge(`${prefix}_early_bytes`, 1);
      await proxy.untilAccepted(1);
      api.gauge(`${prefix}_late_bytes`, 2);
      await metrics.close();
      assert.equal(metrics.dropped, 0, 'the write on its way was cut off');
      assert.equal(metrics.written, 2);
      const series = await vm.exportWhen(`${prefix}_.*`, (all) => all.length === 2);
      assert.deepEqual(series.map((x) => x.metric['__name__']).sort(), [
        `${prefix}_early_bytes_value`,
        `${prefix}_late_bytes_value`,
      ]);
    } finally {
      await proxy.close();
    }
  });

  test('points recorded while the store is down are kept for retry and arrive later', async () => {
    // A second VictoriaMetrics that starts only after the first write failed.
    const late = new VictoriaMetrics();
    const port = await freePort();
    const { log, waitFor } = captureLog();
    const prefix = `t${randomUUID().slice(0, 8)}`;
    // Retries start 1 s after the failure: time enough for the store to come up.
    const metrics = new InfluxMetrics(
      options(`http://127.0.0.1:${port}`, { log, flushIntervalMs: 1000, flushTimeoutMs: 5000 }),
    );
    try {
      metrics.start();
      createMetrics([metrics]).gauge(`${prefix}_kept_bytes`, 7);
      await waitFor(unreachable);
      await late.start(20_000, port);
      await metrics.close();
      assert.equal(metrics.dropped, 0);
      const series = await late.exportWhen(`${prefix}_.*`, (s) => s.length > 0);
      assert.deepEqual(series[0]?.values, [7]);
    } finally {
      await late.stop();
    }
  });
});

describe('InfluxDB metrics during a store outage', () => {
  test('a store that is down costs one warning, counted drops, and no exception', async () => {
    const port = await freePort();
    const { log, lines, waitFor } = captureLog();
    const metrics = new InfluxMetrics(
      options(`http://127.0.0.1:${port}`, { log, maxBufferPoints: 5, batchSize: 5 }),
    );
    metrics.start();
    // Four full batches: each is sent at once, fails, and goes to the 5-point retry buffer.
    const api = createMetrics([metrics]);
    for (let i = 0; i < 20; i++) api.count('outage_test_total', 1, { point: String(i) });
    await waitFor(unreachable);
    const started = performance.now();
    await metrics.close();
    assert.ok(performance.now() - started < 2000, 'close() is bounded by flushTimeoutMs');
    const warnings = lines.filter((l) => l.msg?.startsWith('metrics store unreachable'));
    assert.equal(warnings.length, 1, 'the outage is logged once, not per write');
    assert.equal(metrics.written, 0);
    assert.equal(metrics.dropped, 20, 'every unwritten point is counted as dropped');
    const closed = lines.find((l) => l.msg === 'metrics closed; some were dropped');
    assert.ok(closed, 'close() reports the drops');
  });

  test('a hanging store cannot hold close() past its timeout', async () => {
    const hanging = new HttpRecorder('hang');
    await hanging.start();
    try {
      const metrics = new InfluxMetrics(
        options(hanging.baseUrl, { timeoutMs: 30_000, flushTimeoutMs: 300 }),
      );
      metrics.start();
      createMetrics([metrics]).gauge('hang_test_bytes', 1);
      await hanging.waitFor((r) => r.url.pathname === '/api/v2/write');
      const started = performance.now();
      await metrics.close();
      assert.ok(performance.now() - started < 1500);
      assert.equal(metrics.dropped, 1);
    } finally {
      await hanging.close();
    }
  });

  test('a store that answers a byte at a time: each write ends at INFLUX_TIMEOUT_MS, the outage is logged, the sockets stay few', async (t) => {
    // The client's timeout is its socket's idle time, and it left the request open when it
    // fired: against this store no write ever failed, nothing was logged, and every flush
    // opened a socket of its own (28 in 30 s).
    const trickling = new Set<ServerResponse>();
    let made = 0;
    let open = 0;
    let mostOpen = 0;
    const twenty = Promise.withResolvers<void>();
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.flushHeaders();
      trickling.add(res);
      res.once('close', () => trickling.delete(res));
    });
    server.on('connection', (socket) => {
      made++;
      mostOpen = Math.max(mostOpen, ++open);
      socket.once('close', () => open--);
      if (made === 20) twenty.resolve();
    });
    const drip = setInterval(() => {
      for (const res of trickling) res.write(' ');
    }, 100);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(async () => {
      clearInterval(drip);
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    });
    const port = (server.address() as { port: number }).port;
    const { log, lines, waitFor } = captureLog();
    const metrics = new InfluxMetrics(
      options(`http://127.0.0.1:${port}`, { log, timeoutMs: 600, flushIntervalMs: 100 }),
    );
    metrics.start();
    const api = createMetrics([metrics]);
    const recording = setInterval(() => api.gauge('trickle_test_bytes', 1), 50);
    t.after(() => clearInterval(recording));
    const warning = await waitFor(unreachable, 5_000);
    assert.match(
      JSON.stringify(warning['err']),
      /no complete answer within INFLUX_TIMEOUT_MS \(600 ms\)/,
    );
    await twenty.promise;
    // A write every flush interval, each ended at the timeout: some 600 / 100 at once.
    assert.ok(mostOpen <= 8, `${mostOpen} sockets open at once of the ${made} made`);
    assert.equal(lines.filter((l) => l.msg === unreachable).length, 1, 'logged once');
    clearInterval(recording);
    await metrics.close();
  });
});
