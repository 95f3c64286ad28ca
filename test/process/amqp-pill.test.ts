import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Supervisord } from '../helpers/supervisord.js';
import {
  BrokerObserver,
  amqpSettings,
  createVhost,
  queues,
  type Received,
  type TestVhost,
} from '../helpers/broker.js';

/**
 * The pill drill: a message that kills the process (FAULT=crash-on:TEXT, SIGKILL as a native
 * crash) or hangs its processor thread for good (FAULT=hang-on:TEXT), with the real broker and
 * the real supervisord restarting the service (entrypoint.sh, config/supervisord.conf), the
 * default prefetch and delivery limit. 300 events, the pill among the first hundred: the pill
 * ends in the failed queue after a bounded number of deliveries, every other event gets its
 * result and none is dead-lettered, the service ends up running, and TERM then exits 0.
 */

const events = 300;
const pillAt = 37;
const pillText = 'POISON-PILL';
const deliveryLimit = 5;

let vhost: TestVhost | undefined;
let observer: BrokerObserver | undefined;
let supervisor: Supervisord | undefined;

afterEach(async () => {
  await supervisor?.stop();
  await observer?.close();
  await vhost?.remove();
  supervisor = observer = vhost = undefined;
});

function ids(received: Received[]): Set<string> {
  return new Set(received.map((r) => String(r.properties.messageId)));
}

async function drill(fault: string): Promise<void> {
  vhost = await createVhost('amqp-pill');
  observer = await BrokerObserver.open(vhost.url);
  for (const queue of [queues.input, queues.results, queues.failed]) {
    await observer.assertQueue(queue);
  }
  const all = Array.from({ length: events }, (_, i) => `event-${i}`);
  await observer.publish(
    queues.input,
    all.map((id, i) => JSON.stringify({ text: i === pillAt ? `${id} ${pillText}` : id })),
    (i) => ({ messageId: all[i] }),
  );
  const pill = all[pillAt] as string;
  const innocent = all.filter((id) => id !== pill);
  const results = observer.collect(
    queues.results,
    (r) => innocent.every((id) => ids(r).has(id)),
    150_000,
  );
  supervisor = new Supervisord(
    amqpSettings(vhost.url, {
      FAULT: fault,
      AMQP_PREFETCH: '50',
      // The quarantine opens after supervisord's startsecs (2 s): a crash there is an exit of a
      // running service, restarted at once.
      AMQP_QUARANTINE_DELAY_MS: '2500',
      SAMPLE_WORK_MS: '2',
      SHUTDOWN_STEP_TIMEOUT_MS: '1000',
    }),
  );
  const received = await results;
  const [failed] = await observer.collect(queues.failed, (r) => r.length >= 1, 150_000);
  assert.equal(failed?.properties.messageId, pill, 'the pill is the one dead-lettered');
  const death = failed?.properties.headers?.['x-death']?.[0];
  assert.equal(death?.reason, 'delivery_limit');
  assert.equal(death.queue, queues.quarantine);
  assert.equal(await observer.depth(queues.failed), 0, 'no innocent event in the failed queue');
  assert.ok(!ids(received).has(pill), 'no result for the pill');

  // Bounded: one run died of it in the main flow, then at most limit + 1 in the quarantine.
  const pids = supervisor.spawnedPids();
  assert.ok(
    pids.length <= deliveryLimit + 3,
    `${pids.length} runs for a delivery limit of ${deliveryLimit}`,
  );
  const warned = supervisor.output.filter(
    (l) => l.json?.['msg'] === 'redelivered message' && l.json['messageId'] === pill,
  );
  assert.ok(warned.length >= 1, 'the redelivered pill is logged at warn');
  assert.equal(warned[0]?.json?.['level'], 'warn');
  console.log(
    `${fault}: ${pids.length} runs, ${received.length} results for ${innocent.length} events ` +
      `(${received.length - ids(received).size} duplicates), pill delivery counts ` +
      JSON.stringify(warned.map((l) => l.json?.['deliveryCount'] ?? null)),
  );

  // Still running, and a TERM stops it cleanly.
  const last = pids.at(-1) as number;
  await supervisor.output.waitFor(supervisor.serviceLine('ready', last), 30_000);
  const status = await supervisor.supervisorctl('status', 'app');
  assert.match(status.stdout, /^app\s+RUNNING/m, status.stdout);
  const stop = await supervisor.supervisorctl('stop', 'app');
  assert.match(stop.stdout, /app: stopped/);
  await supervisor.output.waitFor('stopped: app (exit status 0)', 30_000);
  assert.equal(supervisor.spawnedPids().length, pids.length, 'not restarted after the TERM');
}

describe('a message that kills the process', { timeout: 240_000 }, () => {
  test('crash-on: the pill ends in the failed queue after a bounded number of deliveries; every other event gets its result', async () => {
    await drill(`crash-on:${pillText}`);
  });

  test('hang-on: the pill ends in the failed queue after a bounded number of deliveries; every other event gets its result', async () => {
    await drill(`hang-on:${pillText}`);
  });
});
