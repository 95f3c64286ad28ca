import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { freePort } from '../helpers/http-recorder.js';
import { rawHttp } from '../helpers/raw-http.js';

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
    // Slow work keeps jobs in flight, so the drain holds the shutdown open for a while.
    const service = start({ HEALTH_PORT: String(port), FIXTURE_JOB_MS: '3000' });
    await service.waitFor('ready', 15_000);
    const live = await probe(port, '/healthz');
    assert.equal(live.status, 200, JSON.stringify(live.body));
    assert.equal(live.body.ok, true);
    assert.deepEqual(live.body.checks['threads']?.detail, { alive: 3, missing: [] });
    assert.equal(live.body.checks['eventLoop']?.ok, true);
    const ready = await probe(port, '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(Object.keys(ready.body.checks).sort(), ['running', 'started']);

    // The first job is done after 3 s of work; by then dozens of jobs are in flight.
    await service.waitFor('job done', 15_000);
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
      FIXTURE_JOB_MS: '3000',
      FAULT: 'worker-exit:ticker',
    });
    await service.waitFor('shutdown started', 15_000);
    const live = await probe(port, '/healthz');
    assert.equal(live.status, 503);
    assert.equal(live.body.checks['threads']?.ok, false);
    assert.deepEqual(live.body.checks['threads']?.detail, { alive: 2, missing: ['ticker'] });
    assert.equal((await service.waitForExit(20_000)).code, 71, service.tail());
  });

  test('/livez is liveness and /healthz its alias; ?verbose gives the reasons in text', async () => {
    const port = await freePort();
    const service = start({ HEALTH_PORT: String(port) });
    await service.waitFor('ready', 15_000);
    const livez = await probe(port, '/livez');
    assert.equal(livez.status, 200);
    const healthz = await probe(port, '/healthz');
    assert.deepEqual(Object.keys(healthz.body.checks), Object.keys(livez.body.checks));
    const text = await fetch(`http://127.0.0.1:${port}/livez?verbose`);
    assert.equal(text.status, 200);
    assert.match(text.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await text.text(), '[+]threads ok\n[+]eventLoop ok\nlivez check passed\n');
    const ready = await (await fetch(`http://127.0.0.1:${port}/readyz?verbose`)).text();
    assert.equal(ready, '[+]running ok\n[+]started ok\nreadyz check passed\n');
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0);
  });

  test('with SHUTDOWN_READINESS_DELAY_MS, readiness turns false at once and intake stops after the delay', async () => {
    const port = await freePort();
    // A slower heartbeat: on a loaded machine a 200 ms one can read as a hung worker (exit 71).
    const service = start({
      HEALTH_PORT: String(port),
      SHUTDOWN_READINESS_DELAY_MS: '1500',
      HEARTBEAT_MS: '1000',
    });
    await service.waitFor('job done', 15_000);
    service.signal('SIGTERM');
    const begun = await service.waitFor('shutdown started');
    const unready = await fetch(`http://127.0.0.1:${port}/readyz?verbose`);
    assert.equal(unready.status, 503);
    assert.match(await unready.text(), /^\[-\]running failed: "stopping"$/m);
    const stopTicker = await service.waitFor(
      (l) => l.msg === 'shutdown step started' && l['step'] === 'stop ticker',
      10_000,
    );
    const waitedMs = Date.parse(String(stopTicker['time'])) - Date.parse(String(begun['time']));
    assert.ok(waitedMs >= 1450, `intake stopped ${waitedMs} ms after shutdown started`);
    // The ticker kept making jobs during the delay, and they were done.
    const during = service.lines.filter(
      (l) =>
        l.msg === 'job done' &&
        Date.parse(String(l['time'])) > Date.parse(String(begun['time'])) + 200,
    );
    assert.ok(during.length > 0, 'work went on while unready');
    assert.equal((await service.waitForExit(20_000)).code, 0, service.tail());
  });

  test('other paths answer 404 with JSON', async () => {
    const port = await freePort();
    const service = start({ HEALTH_PORT: String(port) });
    await service.waitFor('ready', 15_000);
    const res = await fetch(`http://127.0.0.1:${port}/nope`);
    assert.equal(res.status, 404);
    assert.match(await res.text(), /livez/);
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0);
  });

  test('odd request targets are answered (404, 400), and the service runs on', async () => {
    const port = await freePort();
    const service = start({ HEALTH_PORT: String(port) });
    await service.waitFor('ready', 15_000);
    const ask = (target: string) =>
      rawHttp(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    // `new URL('//', base)` throws: one such request used to end the service with 70.
    for (const target of ['//', '///', '/\\', '//[']) {
      assert.equal((await ask(target)).status, 404, target);
    }
    assert.equal((await ask('*')).status, 400);
    // A proxy's absolute form is read.
    assert.equal((await ask('http://health/livez')).status, 200);
    assert.equal((await probe(port, '/livez')).status, 200);
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
  });

  test('a port that cannot be bound is a configuration error (exit 78), logged as one, not as an application error', async () => {
    const port = await freePort();
    const holder = start({ HEALTH_PORT: String(port) });
    await holder.waitFor('ready', 15_000);
    const clash = start({ HEALTH_PORT: String(port) });
    assert.equal((await clash.waitForExit()).code, 78, clash.tail());
    const line = await clash.waitFor((l) =>
      /cannot listen/.test(String((l['err'] as { message?: string } | undefined)?.message)),
    );
    // An operator's to mend, not a bug: no application error, no error report.
    assert.equal(line.msg, 'configuration error');
    assert.ok(!clash.lines.some((l) => l.msg === 'application error'), clash.tail());
    holder.signal('SIGTERM');
    assert.equal((await holder.waitForExit()).code, 0);
  });
});
