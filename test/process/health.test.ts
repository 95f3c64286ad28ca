import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { freePort } from '../helpers/http-recorder.js';

/** The health endpoint of the real service process, asked with real HTTP requests. */

interface HealthBody {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: unknown }>;
}

async function probe(port: number, path: string): Promise<{ status: number; body: HealthBody }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    signal: AbortSignal.timeout(2000),
  });
  return { status: res.status, body: (await res.json()) as HealthBody };
}

describe('health endpoint', () => {
  const services: ServiceProcess[] = [];
  const start = (env: Record<string, string>): ServiceProcess => {
    const service = new ServiceProcess({ env: testEnv(env) });
    services.push(service);
    return service;
  };
  after(async () => {
    for (const s of services) await s.stop();
  });

  test('live and ready while running; not ready as soon as shutdown starts', async () => {
    const port = await freePort();
    // Slow work keeps events in flight, so the drain holds the shutdown open for a while.
    const service = start({ HEALTH_PORT: String(port), SAMPLE_WORK_MS: '3000' });
    await service.waitFor('ready', 15_000);
    const live = await probe(port, '/healthz');
    assert.equal(live.status, 200, JSON.stringify(live.body));
    assert.equal(live.body.ok, true);
    assert.deepEqual(live.body.checks['threads']?.detail, { alive: 3, missing: [] });
    assert.equal(live.body.checks['eventLoop']?.ok, true);
    const ready = await probe(port, '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(Object.keys(ready.body.checks).sort(), ['running', 'started']);

    // The first result comes after 3 s of work; by then dozens of events are in flight.
    await service.waitFor('event processed', 15_000);
    service.signal('SIGTERM');
    await service.waitFor('draining');
    const draining = await probe(port, '/readyz');
    assert.equal(draining.status, 503);
    assert.equal(draining.body.ok, false);
    assert.deepEqual(draining.body.checks['running'], { ok: false, detail: 'stopping' });
    assert.equal((await probe(port, '/healthz')).status, 200, 'still live while draining');
    assert.equal((await service.waitForExit(20_000)).code, 0, service.tail());
  });

  test('not live when a worker thread is missing', async () => {
    const port = await freePort();
    const service = start({
      HEALTH_PORT: String(port),
      SAMPLE_WORK_MS: '3000',
      FAULT: 'worker-exit:producer',
    });
    await service.waitFor('shutdown started', 15_000);
    const live = await probe(port, '/healthz');
    assert.equal(live.status, 503);
    assert.equal(live.body.checks['threads']?.ok, false);
    assert.deepEqual(live.body.checks['threads']?.detail, { alive: 2, missing: ['producer'] });
    assert.equal((await service.waitForExit(20_000)).code, 71, service.tail());
  });

  test('other paths answer 404 with JSON', async () => {
    const port = await freePort();
    const service = start({ HEALTH_PORT: String(port) });
    await service.waitFor('ready', 15_000);
    const res = await fetch(`http://127.0.0.1:${port}/nope`);
    assert.equal(res.status, 404);
    assert.match(await res.text(), /healthz/);
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0);
  });

  test('a port that cannot be bound is a configuration error (exit 78)', async () => {
    const port = await freePort();
    const holder = start({ HEALTH_PORT: String(port) });
    await holder.waitFor('ready', 15_000);
    const clash = start({ HEALTH_PORT: String(port) });
    assert.equal((await clash.waitForExit()).code, 78, clash.tail());
    await clash.waitFor((l) =>
      /cannot listen/.test(String((l['err'] as { message?: string } | undefined)?.message)),
    );
    holder.signal('SIGTERM');
    assert.equal((await holder.waitForExit()).code, 0);
  });
});
