// The baseline is bare amqplib, on purpose: it measures what the core costs on top of it.
import { randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { fill, resultOf } from './messages.js';
import { measureHere, type RunFigures } from './figures.js';

/**
 * How the bare loop publishes its results.
 * - `plain` (the baseline): to the default exchange, straight to the results queue, with the
 *   properties a naive loop sets.
 * - `as-service`: the message the service publishes, so the broker does the same work for it:
 *   through a direct exchange the results queue is bound to, `mandatory`, and the core
 *   Publisher's and the sample's properties (`appId`, `timestamp`, `type`, a UUID correlation
 *   id, as the consumer makes for an event that has none). Against `plain` it says what the
 *   shape of the service's results costs the broker; against the pipeline, what the core
 *   costs with the broker's share taken out.
 */
export type BarePublish = 'plain' | 'as-service';

/**
 * The bare loop in this process. Consume with `prefetch`, compute the sample's result, publish
 * it persistent on a confirm channel, ack the event in the publish's confirm callback. One
 * connection, one confirm channel for both directions.
 */
export async function runBare(
  url: string,
  name: string,
  count: number,
  prefetch: number,
  broker: number,
  warmUp = 0,
  publish: BarePublish = 'plain',
): Promise<RunFigures> {
  const connection = await amqp.connect(url);
  // Once set, confirms that still come (the last ones, or all of them when the connection
  // closes on a failure) ack or nack nothing.
  let closing = false;
  try {
    const admin = await connection.createConfirmChannel();
    await fill(admin, `${name}.events`, warmUp + count);
    const results = `${name}.results`;
    await admin.assertQueue(results, { durable: true });
    const asService = publish === 'as-service';
    if (asService) {
      await admin.assertExchange(name, 'direct', { durable: true });
      await admin.bindQueue(results, name, results);
    }
    const channel = await connection.createConfirmChannel();
    await channel.prefetch(prefetch);
    const startedAt = performance.now();
    await channel.consume(`${name}.events`, (message) => {
      if (message === null) return;
      const id = message.properties.messageId as string;
      const result = resultOf(message.content, id, 'bare');
      const options: amqp.Options.Publish = asService
        ? {
            persistent: true,
            mandatory: true,
            contentType: 'application/json',
            appId: 'worker-base',
            timestamp: Math.floor(Date.now() / 1000),
            messageId: id,
            correlationId: randomUUID(),
            type: 'sample.result',
          }
        : { persistent: true, contentType: 'application/json', messageId: id, correlationId: id };
      channel.publish(
        asService ? name : '',
        results,
        Buffer.from(JSON.stringify(result)),
        options,
        (error: unknown) => {
          if (closing) return;
          if (error === null || error === undefined) channel.ack(message);
          else channel.nack(message);
        },
      );
    });
    // A result no queue took would be confirmed and its event acked, and the results queue
    // would never fill: fail the run at once instead.
    const unroutable = new Promise<never>((_, reject) =>
      channel.once('return', (returned: amqp.Message) =>
        reject(new Error(`a result came back unroutable (${returned.fields.routingKey})`)),
      ),
    );
    const figures = await Promise.race([
      measureHere(admin, results, { broker, startedAt, warmUp, count }),
      unroutable,
    ]);
    await channel.waitForConfirms();
    return figures;
  } finally {
    closing = true;
    await connection.close();
  }
}
