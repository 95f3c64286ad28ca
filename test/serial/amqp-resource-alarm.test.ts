import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceProcess } from '../helpers/service-process.js';
import { freePort } from '../helpers/http-recorder.js';
import {
  BrokerObserver,
  startAmqpFixture,
  createVhost,
  queueCounts,
  queues,
  rabbitmqctl,
  type TestVhost,
} from '../helpers/broker.js';

/**
 * A broker resource alarm under a running service (the AMQP fixture, test/fixtures/amqp-service):
 * serial only (it blocks every publishing
 * connection of the shared broker). The memory watermark is set to 0 (a memory alarm at once)
 * and set back to what it was in a `finally`, whatever happened. The service sees
 * `connection.blocked`: it is not ready (with the reason), logs one warning, and its result
 * publish, waiting on the blocked connection, fails after AMQP_BLOCKED_TIMEOUT_MS: a
 * dependency failure (exit 69); the input message is not lost.
 */

const DEPENDENCY_FAILURE = 69;
const blockedTimeoutMs = 2000;
let vhost: TestVhost;
let observer: BrokerObserver;
const services: ServiceProcess[] = [];

before(async () => {
  vhost = await createVhost('amqp-resource-alarm');
  observer = await BrokerObserver.open(vhost.url);
});

after(async () => {
  for (const service of services) await service.stop();
  await observer.close();
  await vhost.remove();
});

/** The broker's memory high watermark as `rabbitmqctl set_vm_memory_high_watermark` takes it. */
async function watermark(): Promise<string[]> {
  const out = (
    await rabbitmqctl('eval', 'vm_memory_monitor:get_vm_memory_high_watermark().')
  ).trim();
  const absolute = /^\{absolute,\s*(\d+)\}$/.exec(out);
  if (absolute?.[1] !== undefined) return ['absolute', absolute[1]];
  assert.match(out, /^\d+(\.\d+)?$/, `unexpected watermark ${out}`);
  return [out];
}

async function alarms(): Promise<string> {
  return rabbitmqctl('eval', 'rabbit_alarm:get_alarms().');
}

async function probeReady(port: number): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: await res.json() };
}

test('a memory alarm: not ready with the reason, one warning, and a publish waiting on the blocked connection ends in a dependency failure', async () => {
  const port = await freePort();
  const service = startAmqpFixture(vhost.url, {
    HEALTH_PORT: String(port),
    // The message is still being worked on when the alarm goes off; its result is then
    // published on a blocked connection. rabbitmqctl takes 3 to 9 s to run on the loaded
    // machine: with 3 s of work the result was sometimes out before the alarm.
    FIXTURE_WORK_MS: '10000',
    AMQP_BLOCKED_TIMEOUT_MS: String(blockedTimeoutMs),
    SHUTDOWN_STEP_TIMEOUT_MS: '2000',
    // amqplib's heartbeat timers outlived the dropped socket by up to two of these: with 30 s,
    // the process ended at its deadline (124), 30 s after `shutdown complete`.
    AMQP_HEARTBEAT_S: '30',
  });
  services.push(service);
  await service.waitFor('ready', 15_000);
  assert.equal((await probeReady(port)).status, 200);
  // Read before the message is in hand: one rabbitmqctl run less while it is worked on.
  const original = await watermark();
  await observer.publish(queues.input, [JSON.stringify({ text: 'under an alarm' })], () => ({
    messageId: 'alarm-1',
  }));
  await service.waitFor((l) => l.msg === 'queue stats' && l['inFlight'] === 1);

  try {
    await rabbitmqctl('set_vm_memory_high_watermark', '0');
    const blocked = await service.waitFor(
      (l) => l.msg === 'broker blocked the connection (resource alarm); publishes wait',
      15_000,
    );
    assert.equal(blocked.level, 'warn');
    assert.match(String(blocked['reason']), /memory/i);
    const ready = await probeReady(port);
    assert.equal(ready.status, 503, JSON.stringify(ready.body));
    const check = (ready.body as { checks: Record<string, { ok: boolean; detail: unknown }> })
      .checks['amqpBlocked'];
    assert.equal(check?.ok, false);
    assert.match(JSON.stringify(check.detail), /"blocked":true,"reason":"[^"]*memory/i);

    const blockedAt = Date.now();
    const exit = await service.waitForExit(30_000);
    const exitedAt = Date.now();
    assert.equal(exit.code, DEPENDENCY_FAILURE, service.tail());
    const complete = service.lines.find((l) => l.msg === 'shutdown complete');
    const lingeredMs = exitedAt - Date.parse(String(complete?.['time']));
    assert.ok(lingeredMs < 3_000, `exited ${lingeredMs} ms after shutdown complete`);
    // The consumer's cancel is not waited for on a connection the broker does not read.
    const cancel = service.lines.find(
      (l) => l.msg === 'shutdown step finished' && l['step'] === 'cancel amqp consumer',
    );
    assert.deepEqual([cancel?.['outcome'], Number(cancel?.['durationMs']) < 1000], ['ok', true]);
    const failure = service.lines.find((l) => l.msg === 'dependency failure');
    assert.match(JSON.stringify(failure?.['err']), /blocked the connection for 2000 ms/);
    assert.ok(Date.now() - blockedAt >= blockedTimeoutMs - 500, 'not before the timeout');
    assert.equal(
      service.lines.filter((l) => l.msg?.startsWith('broker blocked the connection') === true)
        .length,
      1,
      'one warning',
    );
    assert.ok(!service.lines.some((l) => l.msg === 'application error'), service.tail());
  } finally {
    await rabbitmqctl('set_vm_memory_high_watermark', ...original);
    // Wait until the alarm has cleared, so the tests after this one find a working broker.
    const deadline = Date.now() + 30_000;
    while ((await alarms()).includes('memory') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  assert.doesNotMatch(await alarms(), /memory/, 'the alarm cleared');
  // Nothing lost: the unacked input went back to its queue.
  const deadline = Date.now() + 10_000;
  let counts = await queueCounts(vhost.name, queues.input);
  while (counts.ready !== 1 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    counts = await queueCounts(vhost.name, queues.input);
  }
  assert.deepEqual(counts, { ready: 1, unacked: 0 });
});
