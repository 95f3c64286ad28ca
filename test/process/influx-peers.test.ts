import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { HostilePeer } from '../helpers/hostile-peer.js';

/**
 * The InfluxDB writer against a store that misbehaves on a real socket: the service keeps
 * working, reads no more than a bounded answer, and nothing of the writer outlives the stop.
 */

const mib = 1024 * 1024;

function influxEnv(url: string, extra: Record<string, string>): Record<string, string> {
  return testEnv({
    INFLUX_URL: url,
    INFLUX_ORG: 'o',
    INFLUX_BUCKET: 'b',
    THREAD_REPORT_INTERVAL_MS: '200',
    ...extra,
  });
}

describe('an InfluxDB that misbehaves', () => {
  let peer: HostilePeer | undefined;
  let service: ServiceProcess | undefined;
  afterEach(async () => {
    await service?.stop();
    await peer?.close();
  });

  test('a silent store: nothing of the writer holds the exit after shutdown complete', async () => {
    peer = new HostilePeer({ mode: 'silent' });
    const url = await peer.start();
    // Writes fail after 1 s and are retried 1 to 5 s later, so at the stop a retry is on its way
    // while others wait in the client's retry buffer.
    service = new ServiceProcess({
      env: influxEnv(url, {
        INFLUX_FLUSH_INTERVAL_MS: '1000',
        INFLUX_TIMEOUT_MS: '1000',
        INFLUX_FLUSH_TIMEOUT_MS: '500',
      }),
    });
    await service.waitFor(
      'metrics store unreachable; points are kept for retry (bounded), then dropped',
      15_000,
    );
    const retried = (): boolean => peer!.requests.length >= 8;
    while (!retried()) await service.waitFor((l) => l.msg === 'thread report' && retried(), 20_000);

    service.signal('SIGTERM');
    await service.waitFor('shutdown complete', 10_000);
    const completeAt = performance.now();
    const { code } = await service.waitForExit(30_000);
    const heldMs = Math.round(performance.now() - completeAt);
    assert.equal(code, 0, service.tail());
    console.log(`# silent store: exit ${heldMs} ms after 'shutdown complete'`);
    assert.ok(heldMs < 1000, `exit ${heldMs} ms after 'shutdown complete'`);
  });

  for (const [status, contentType] of [
    [200, 'text/plain'],
    [500, 'application/json'],
  ] as const) {
    test(`an endless ${status} ${contentType} answer is read no further than a bound`, async () => {
      peer = new HostilePeer({ mode: 'endless', status, contentType });
      const url = await peer.start();
      service = new ServiceProcess({
        env: influxEnv(url, { INFLUX_FLUSH_INTERVAL_MS: '200', INFLUX_TIMEOUT_MS: '4000' }),
      });
      const warning = await service.waitFor(
        'metrics store unreachable; points are kept for retry (bounded), then dropped',
        15_000,
      );
      assert.match(JSON.stringify(warning['err']), /answer over 65536 bytes/);
      const three = (): boolean => peer!.requests.filter((r) => r.closed).length >= 3;
      while (!three()) await service.waitFor((l) => l.msg === 'thread report' && three(), 20_000);
      assert.ok(service.isAlive, service.tail());

      service.signal('SIGTERM');
      const { code } = await service.waitForExit(15_000);
      assert.equal(code, 0, service.tail());
      console.log(`# endless ${status}: at most ${peer.mostSent} bytes sent to one write`);
      assert.ok(peer.mostSent < 16 * mib, `${peer.mostSent} bytes sent to one write`);
    });
  }
});
