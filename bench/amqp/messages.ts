import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type * as amqp from 'amqplib';

/**
 * What every AMQP bench run shares: the input events, filling a queue with them, waiting for
 * a queue's depth, and the sample's processing as the bare loop and the peer do it.
 */

const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];

/** The i-th input event, a sample event of 3 to 7 words (about 60-80 bytes of JSON). */
export function body(i: number): Buffer {
  const text = Array.from({ length: 3 + (i % 5) }, (_, k) => words[(i + k * 3) % words.length]);
  return Buffer.from(JSON.stringify({ text: text.join(' '), seq: i }));
}

/** Publishes `count` persistent events (from `from`) to `queue`, confirmed in batches. */
export async function fill(
  channel: amqp.ConfirmChannel,
  queue: string,
  count: number,
  from = 0,
): Promise<void> {
  await channel.assertQueue(queue, { durable: true });
  for (let i = from; i < from + count; i++) {
    channel.sendToQueue(queue, body(i), { persistent: true, messageId: `m-${i}` });
    if (i % 1000 === 999) await channel.waitForConfirms();
  }
  await channel.waitForConfirms();
}

/** Resolves with performance.now() when `queue` holds `count` ready messages; polls every 20 ms. */
export async function untilDepth(
  channel: amqp.Channel,
  queue: string,
  count: number,
  signal?: AbortSignal,
): Promise<number> {
  for (;;) {
    const { messageCount } = await channel.checkQueue(queue);
    if (messageCount >= count) return performance.now();
    await delay(20, undefined, { signal });
  }
}

/** The sample's result for one event, computed as the sample's processor does. */
export function resultOf(content: Buffer, eventId: string, processedBy: string): object {
  const event = JSON.parse(content.toString()) as { text: string };
  return {
    eventId,
    digest: createHash('sha256').update(event.text).digest('hex'),
    words: event.text.split(/\s+/).filter(Boolean).length,
    processedAt: new Date().toISOString(),
    processedBy,
    attempt: 1,
  };
}
