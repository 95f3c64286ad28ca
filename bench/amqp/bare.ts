// The baseline is bare amqplib, on purpose: it measures what the core costs on top of it.
import * as amqp from 'amqplib';
import { fill, resultOf } from './messages.js';
import { measureHere, type RunFigures } from './figures.js';

/**
 * The baseline: a bare amqplib loop in this process. Consume with `prefetch`, compute the
 * sample's result, publish it persistent on a confirm channel, ack the event in the publish's
 * confirm callback. One connection, one confirm channel for both directions.
 */
export async function runBare(
  url: string,
  name: string,
  count: number,
  prefetch: number,
  broker: number,
  warmUp = 0,
): Promise<RunFigures> {
  const connection = await amqp.connect(url);
  try {
    const admin = await connection.createConfirmChannel();
    await fill(admin, `${name}.events`, warmUp + count);
    await admin.assertQueue(`${name}.results`, { durable: true });
    const channel = await connection.createConfirmChannel();
    await channel.prefetch(prefetch);
    let closing = false;
    const startedAt = performance.now();
    await channel.consume(`${name}.events`, (message) => {
      if (message === null) return;
      const id = message.properties.messageId as string;
      const result = resultOf(message.content, id, 'bare');
      channel.publish(
        '',
        `${name}.results`,
        Buffer.from(JSON.stringify(result)),
        { persistent: true, contentType: 'application/json', messageId: id, correlationId: id },
        (error: unknown) => {
          // After the last result the bench closes the connection: no ack or nack then.
          if (closing) return;
          if (error === null || error === undefined) channel.ack(message);
          else channel.nack(message);
        },
      );
    });
    const figures = await measureHere(admin, `${name}.results`, {
      broker,
      startedAt,
      warmUp,
      count,
    });
    await channel.waitForConfirms();
    closing = true;
    return figures;
  } finally {
    await connection.close();
  }
}
