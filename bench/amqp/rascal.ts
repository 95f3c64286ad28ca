import { setTimeout as delay } from 'node:timers/promises';
import * as amqp from 'amqplib';
import rascal from 'rascal';
import { fill, resultOf } from './messages.js';
import { measureHere, type RunFigures } from './figures.js';

/**
 * The peer: the same consume -> publish (confirmed) -> ack work through rascal, in this
 * process, with the same prefetch and messages. The same promise as the pipeline's: the event
 * is acked on the publication's `success` event (the broker's confirm), not when
 * `broker.publish()` resolves (that only means the message was handed to a channel).
 */

/**
 * rascal's channel settings as used here, stated in the results: its defaults, except the
 * subscription's prefetch (set to the bench's) and redelivery counting (off, as in the
 * others). Publishing borrows one of at most `confirmPoolMax` confirm channels from a pool
 * and holds it until the confirm, so at most that many results are unconfirmed at a time.
 */
export function rascalSettings(prefetch: number, confirmPoolMax = 5): Record<string, unknown> {
  return {
    version: '21.0.1',
    prefetch,
    confirmPoolMax,
    publication: 'confirm: true, persistent, mandatory (rascal defaults), default exchange',
    subscription: 'one channel, prefetch as the others, ack on the publication success event',
  };
}

function config(url: string, name: string, prefetch: number, confirmPoolMax: number): object {
  return rascal.withDefaultConfig({
    vhosts: {
      bench: {
        connection: { url },
        publicationChannelPools: { confirmPool: { max: confirmPoolMax } },
        queues: {
          [`${name}.events`]: { options: { durable: true } },
          [`${name}.results`]: { options: { durable: true } },
        },
        publications: {
          results: { queue: `${name}.results`, confirm: true },
        },
        subscriptions: {
          events: { queue: `${name}.events`, prefetch },
        },
      },
    },
  });
}

export async function runRascal(
  url: string,
  name: string,
  count: number,
  prefetch: number,
  broker: number,
  warmUp = 0,
  confirmPoolMax = 5,
): Promise<RunFigures> {
  const admin = await amqp.connect(url);
  const channel = await admin.createConfirmChannel();
  await fill(channel, `${name}.events`, warmUp + count);
  await channel.assertQueue(`${name}.results`, { durable: true });
  const peer = await rascal.BrokerAsPromised.create(config(url, name, prefetch, confirmPoolMax));
  const failures: Error[] = [];
  peer.on('error', (error: Error) => failures.push(error));
  let closing = false;
  try {
    const startedAt = performance.now();
    const subscription = await peer.subscribe('events');
    subscription.on('error', (error) => failures.push(error));
    subscription.on('message', (message, content, ackOrNack) => {
      const id = message.properties.messageId as string;
      const result = resultOf(content as Buffer, id, 'rascal');
      peer.publish('results', result, { options: { messageId: id, correlationId: id } }).then(
        (publication) => {
          publication.on('success', () => {
            if (!closing) ackOrNack();
          });
          publication.on('error', (error) => {
            failures.push(error);
            if (!closing) ackOrNack(error);
          });
        },
        (error: unknown) => {
          failures.push(error as Error);
          if (!closing) ackOrNack(error as Error);
        },
      );
    });
    const figures = await measureHere(channel, `${name}.results`, {
      broker,
      startedAt,
      warmUp,
      count,
    });
    closing = true;
    if (failures.length > 0)
      throw new Error(
        `rascal reported ${failures.length} errors, the first: ${failures[0]?.message}`,
      );
    return figures;
  } finally {
    // rascal's shutdown waits for its vhost to recover when the broker went away: bounded, so
    // a broker outage fails this run instead of hanging the bench.
    await Promise.race([peer.shutdown().catch(() => undefined), delay(10_000)]);
    await admin.close().catch(() => undefined);
  }
}
