import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as amqp from 'amqplib';
import type { ServiceProcess } from '../helpers/service-process.js';
import {
  BrokerObserver,
  startAmqpFixture,
  createVhost,
  queues,
  quorumInput,
  rabbitmqctl,
  type TestVhost,
} from '../helpers/broker.js';

/**
 * Delivery limits against the real RabbitMQ, with the AMQP fixture service as a real process: the
 * quorum input queue and its dead-lettering, the refused declaration of an older classic
 * queue, classic mode, a dependency outage over ten restarts, and retries with a quorum input.
 * Each test gets its own vhost.
 */

const DEPENDENCY_FAILURE = 69;
const CONFIG_ERROR = 78;
let vhost: TestVhost;
let observer: BrokerObserver;
const services: ServiceProcess[] = [];

function start(extra: Record<string, string> = {}): ServiceProcess {
  const service = startAmqpFixture(vhost.url, extra);
  services.push(service);
  return service;
}

async function queueTypes(): Promise<Map<string, string>> {
  const out = await rabbitmqctl(
    'list_queues',
    '-p',
    vhost.name,
    '-q',
    '--no-table-headers',
    'name',
    'type',
  );
  return new Map(
    out
      .trim()
      .split('\n')
      .map((l) => l.split('\t') as [string, string]),
  );
}

beforeEach(async () => {
  vhost = await createVhost('amqp-delivery-limit');
  observer = await BrokerObserver.open(vhost.url);
});

afterEach(async () => {
  for (const service of services.splice(0)) await service.stop();
  await observer.close();
  await vhost.remove();
});

describe('delivery limits on RabbitMQ', () => {
  test('the input queue is a quorum queue; a message delivered past its limit lands in the failed queue with x-death reason delivery_limit', async () => {
    const service = start({ AMQP_DELIVERY_LIMIT: '2' });
    await service.waitFor('ready');
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
    const types = await queueTypes();
    assert.equal(types.get(queues.input), 'quorum');
    assert.equal(types.get(queues.quarantine), 'quorum');
    assert.equal(types.get(queues.failed), 'classic');

    // A consumer that never acks, as a crashing service would be: each nack-requeue is a
    // delivery that ended without an ack.
    const connection = await amqp.connect(vhost.url);
    try {
      const channel = await connection.createChannel();
      channel.sendToQueue(queues.input, Buffer.from('{"text":"pill"}'), {
        messageId: 'pill',
        persistent: true,
      });
      let deliveries = 0;
      await channel.consume(queues.input, (m) => {
        if (m === null) return;
        deliveries++;
        channel.nack(m, false, true);
      });
      const [failed] = await observer.collect(queues.failed, (r) => r.length >= 1);
      assert.equal(deliveries, 3, 'delivered limit + 1 times');
      assert.equal(failed?.properties.messageId, 'pill');
      const death = failed?.properties.headers?.['x-death']?.[0];
      assert.equal(death?.reason, 'delivery_limit');
      assert.equal(death?.queue, queues.input);
    } finally {
      await connection.close();
    }
  });

  test('an exchange of that name and another type: the config-error code naming it, not a dependency failure', async () => {
    // A DependencyError (69) restarted the service for ever over a setting.
    await observer.assertExchange('worker-base', 'topic');
    const service = start();
    const exit = await service.waitForExit();
    assert.equal(exit.code, CONFIG_ERROR, service.tail());
    const text = JSON.stringify(service.lines);
    assert.match(text, /exchange worker-base exists with other properties/);
    assert.match(text, /inequivalent arg 'type'/);
    assert.match(text, /AMQP_EXCHANGE/);
    assert.ok(
      service.lines.some((l) => l.msg === 'configuration error'),
      service.tail(),
    );
    assert.ok(!service.lines.some((l) => l.msg === 'application error'), service.tail());
  });

  test('an older classic input queue: the service exits with the config-error code and a message naming the queue, the difference and the migration', async () => {
    await observer.assertQueue(queues.input, {});
    const service = start();
    const exit = await service.waitForExit();
    assert.equal(exit.code, CONFIG_ERROR, service.tail());
    const text = JSON.stringify(service.lines);
    assert.match(text, /queue worker-base\.events exists with other arguments/);
    assert.match(text, /x-queue-type/);
    assert.match(text, /rabbitmqctl delete_queue worker-base\.events/);
    assert.match(text, /AMQP_QUEUE_TYPE=classic/);
    assert.ok(!service.lines.some((l) => l.msg === 'ready'));

    // Classic mode keeps serving the old queue, unprotected.
    const classic = start({ AMQP_QUEUE_TYPE: 'classic' });
    await classic.waitFor('ready');
    await observer.publish(queues.input, ['{"text":"still served"}'], () => ({ messageId: 'old' }));
    const [result] = await observer.collect(queues.results, (r) => r.length >= 1);
    assert.equal(result?.properties.messageId, 'old');
    assert.equal(
      (await queueTypes()).has(queues.quarantine),
      false,
      'no quarantine in classic mode',
    );
    classic.signal('SIGTERM');
    assert.equal((await classic.waitForExit()).code, 0, classic.tail());
  });

  test('a dependency failing for ten restarts in a row dead-letters nothing', async () => {
    const n = 20;
    await observer.assertQueue(queues.input, quorumInput(2));
    await observer.publish(
      queues.input,
      Array.from({ length: n }, (_, i) => JSON.stringify({ text: `event ${i}` })),
      (i) => ({ messageId: `dep-${i}` }),
    );
    // The results queue refuses every message: each result publish is nacked by the broker,
    // a dependency failure, and the service stops with messages in hand.
    await rabbitmqctl(
      'set_policy',
      '-p',
      vhost.name,
      '--apply-to',
      'queues',
      'full',
      `^${queues.results.replaceAll('.', '\\.')}$`,
      '{"max-length":0,"overflow":"reject-publish"}',
    );
    const settings = { AMQP_DELIVERY_LIMIT: '2' };
    for (let restart = 0; restart < 10; restart++) {
      const service = start(settings);
      const exit = await service.waitForExit(20_000);
      assert.equal(exit.code, DEPENDENCY_FAILURE, service.tail());
      assert.ok(
        service.lines.some((l) => l.msg === 'message given back'),
        `run ${restart}: messages given back\n${service.tail()}`,
      );
    }
    assert.equal(await observer.depth(queues.failed), 0, 'nothing dead-lettered');
    await rabbitmqctl('clear_policy', '-p', vhost.name, 'full');
    const service = start(settings);
    const results = await observer.collect(queues.results, (r) => r.length >= n, 30_000);
    assert.deepEqual(
      new Set(results.map((r) => String(r.properties.messageId))),
      new Set(Array.from({ length: n }, (_, i) => `dep-${i}`)),
    );
    assert.equal(await observer.depth(queues.failed), 0, 'nothing dead-lettered');
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
  });

  test('delayed retries feed the quorum input without spending its delivery limit', async () => {
    const service = start({ AMQP_DELIVERY_LIMIT: '1', AMQP_RETRY_DELAYS_MS: '50,50,50' });
    await service.waitFor('ready');
    await observer.publish(queues.input, [JSON.stringify({ transient: 3 })], () => ({
      messageId: 'retried',
    }));
    const [result] = await observer.collect(queues.results, (r) => r.length >= 1);
    assert.equal((result?.json as { attempt: number }).attempt, 4, 'three retries, limit 1');
    assert.equal(await observer.depth(queues.failed), 0);
    assert.ok(!service.lines.some((l) => l.msg === 'redelivered message'), service.tail());
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
  });
});
