import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AmqpChannel } from '../../src/lib/amqp/amqp-client.js';
import { QueueConsumer } from '../../src/lib/amqp/consumer.js';
import { Publisher } from '../../src/lib/amqp/publisher.js';
import { QuarantineGate } from '../../src/lib/amqp/quarantine.js';
import { noopMetrics } from '../../src/lib/telemetry/metrics.js';
import { captureLog } from '../helpers/capture-log.js';
import { connectedClient } from '../helpers/amqp-client.js';
import { BrokerObserver, createVhost, type TestVhost } from '../helpers/broker.js';

/**
 * The main consumer's pause and resume, which the quarantine's run-alone gate drives: a
 * suspect that finishes resumes the main consumer while the next suspect may already be in
 * hand and pausing it again. Whatever the order the calls come in, a `pause()` resolves only
 * with the consumer paused and nothing of it in hand, and a `cancel()` leaves no consumer on
 * the queue. Against the real RabbitMQ.
 */

let vhost: TestVhost;
let observer: BrokerObserver;

before(async () => {
  vhost = await createVhost('amqp-consumer-pause');
  observer = await BrokerObserver.open(vhost.url);
});

after(async () => {
  await observer.close();
  await vhost.remove();
});

interface Rig {
  consumer: QueueConsumer;
  channel: AmqpChannel;
  /** Deliveries the handler has seen, in order. */
  handled: string[];
  /** Resolves once the handler has seen `n` deliveries in all. */
  handledCount: (n: number) => Promise<void>;
  died: unknown[];
  close: () => Promise<void>;
}

async function rig(queue: string, messages: number): Promise<Rig> {
  const { log } = captureLog('info');
  const client = await connectedClient(vhost.url, 'consumer-pause test', { log });
  const aborter = new AbortController();
  const channel = await client.openChannel('input', { prefetch: 10 });
  const publishing = await client.openChannel('publish', { confirm: true });
  await channel.assertQueue(queue);
  await observer.publish(
    queue,
    Array.from({ length: messages }, (_, i) => JSON.stringify({ i })),
    (i) => ({ messageId: `m-${i}` }),
  );
  const handled: string[] = [];
  let waiters: Array<{ n: number; resolve: () => void }> = [];
  const handledCount = (n: number): Promise<void> =>
    new Promise((resolve) => {
      waiters.push({ n, resolve });
      waiters = waiters.filter((w) => (handled.length >= w.n ? (w.resolve(), false) : true));
    });
  const died: unknown[] = [];
  const consumer = new QueueConsumer({
    channel,
    queue,
    publisher: new Publisher({ channel: publishing, exchange: '', appId: 'test' }),
    // No quarantine and no retries here: only pause, resume and cancel are exercised.
    names: {
      exchange: '',
      inputQueue: queue,
      resultsQueue: 'results',
      failedQueue: 'failed',
      quarantineQueue: undefined,
      queueType: 'classic',
      deliveryLimit: 5,
      retryQueues: [],
    },
    maxMessageBytes: 1_000_000,
    log,
    metrics: noopMetrics,
    control: { signal: aborter.signal, die: (e) => died.push(e), report: () => undefined },
    handler: async (delivery) => {
      handled.push(String(delivery.message.properties.messageId));
      waiters = waiters.filter((w) => (handled.length >= w.n ? (w.resolve(), false) : true));
      await new Promise((resolve) => setImmediate(resolve));
    },
  });
  return {
    consumer,
    channel,
    handled,
    handledCount,
    died,
    close: async () => {
      aborter.abort();
      await client.close();
    },
  };
}

describe('the main consumer paused and resumed by the quarantine gate', () => {
  test('a pause asked while a resume is under way waits for it, then pauses with nothing in hand', async (t) => {
    const queue = 'pause-during-resume';
    const { consumer, channel, handled, handledCount, died, close } = await rig(queue, 200);
    t.after(close);
    await consumer.start();
    await consumer.pause();
    assert.equal(consumer.state, 'paused');

    // The gate's leave() resumes; the next suspect's enter() pauses in the same turn.
    const resuming = consumer.resume();
    await consumer.pause();
    assert.equal(consumer.inFlight, 0, 'nothing in hand when the pause resolved');
    const seen = handled.length;
    await resuming;
    assert.equal(consumer.state, 'paused', 'the resume did not undo the later pause');
    // A round trip on the channel: a consumer still registered would have had deliveries.
    const info = await channel.checkQueue(queue);
    assert.equal(info.consumerCount, 0, 'no consumer left on the queue');
    assert.equal(handled.length, seen, 'no delivery after the pause resolved');
    assert.deepEqual(died, []);

    // And it consumes again on the next resume, to the end of the queue.
    await consumer.resume();
    assert.equal(consumer.state, 'consuming');
    await handledCount(seen + 1);
    await consumer.pause();
  });

  test('a suspect that enters while the one before it leaves keeps the main consumer paused', async (t) => {
    const queue = 'gate-enter-during-leave';
    const quarantine = 'gate-enter-during-leave.quarantine';
    const { consumer, channel, handled, close } = await rig(queue, 50);
    t.after(close);
    await channel.assertQueue(quarantine);
    const gate = new QuarantineGate({ main: consumer });
    await consumer.start();
    await gate.enter(); // suspect B runs alone
    // B leaves; the broker, given B's ack, has already delivered C, which enters before B's
    // look at the (now empty) quarantine queue comes back.
    const leaving = gate.leave();
    await gate.enter();
    await leaving;
    assert.equal(consumer.state, 'paused', 'C runs alone: the main consumer stays paused');
    const seen = handled.length;
    assert.equal((await channel.checkQueue(queue)).consumerCount, 0, 'no main consumer');
    assert.equal(handled.length, seen, 'no delivery while C runs');
    await gate.leave(); // C leaves, nothing else waits: the main consumer consumes again
    assert.equal(consumer.state, 'consuming');
    await consumer.pause();
  });

  test('a suspect that leaves while the quarantine still holds one (another replica may take it) resumes the main consumer', async (t) => {
    // leave() resumed only when the quarantine had nothing ready: with two replicas, the one
    // that saw a suspect still there stayed paused for good once the other replica's
    // quarantine consumer took it, its readiness reading ok.
    const queue = 'gate-leave-with-ready';
    const quarantine = 'gate-leave-with-ready.quarantine';
    const { consumer, channel, handled, handledCount, close } = await rig(queue, 50);
    t.after(close);
    await channel.assertQueue(quarantine);
    t.after(() => observer.deleteQueue(quarantine));
    await observer.publish(quarantine, ['{}'], () => ({ messageId: 'for-another-replica' }));
    const gate = new QuarantineGate({ main: consumer });
    await consumer.start();
    await gate.enter();
    await gate.leave();
    assert.equal(consumer.state, 'consuming', 'no suspect of its own in hand: it consumes');
    await handledCount(handled.length + 1);
    assert.equal((await channel.checkQueue(quarantine)).messageCount, 1, 'left to its taker');
    await consumer.pause();
  });

  test('a cancel while a resume is under way leaves no consumer on the queue', async (t) => {
    const queue = 'cancel-during-resume';
    const { consumer, channel, handled, close } = await rig(queue, 50);
    t.after(close);
    await consumer.start();
    await consumer.pause();
    // The cancel comes once the resume has asked the broker for a consumer again.
    const consume = channel.consume.bind(channel);
    let consumeAsked = (): void => undefined;
    const asked = new Promise<void>((resolve) => (consumeAsked = resolve));
    t.mock.method(channel, 'consume', (...args: Parameters<AmqpChannel['consume']>) => {
      const consuming = consume(...args);
      consumeAsked();
      return consuming;
    });
    const resuming = consumer.resume();
    await asked;
    await consumer.cancel();
    await resuming;
    assert.equal(consumer.state, 'cancelled');
    const seen = handled.length;
    const info = await channel.checkQueue(queue);
    assert.equal(info.consumerCount, 0, 'no consumer left on the queue');
    assert.equal(handled.length, seen, 'no delivery after the cancel resolved');
  });

  test('a cancel while the first subscribe is under way leaves no consumer on the queue', async (t) => {
    // The quarantine's consumer starts AMQP_QUARANTINE_DELAY_MS after start-up, outside it: a
    // TERM then cancelled a consumer still 'idle' (nothing to do), and the subscribe, done a
    // round trip later, consumed for the rest of the shutdown.
    const queue = 'cancel-during-start';
    const { consumer, channel, handled, close } = await rig(queue, 50);
    t.after(close);
    const starting = consumer.start();
    await consumer.cancel();
    await starting;
    assert.equal(consumer.state, 'cancelled');
    const info = await channel.checkQueue(queue);
    assert.equal(info.consumerCount, 0, 'no consumer left on the queue');
    const seen = handled.length;
    await channel.checkQueue(queue);
    assert.equal(handled.length, seen, 'no delivery after the cancel resolved');
    await consumer.start();
    assert.equal(consumer.state, 'cancelled', 'a start after the cancel does nothing');
  });
});
