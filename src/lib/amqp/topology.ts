import type { AmqpChannel } from './amqp-client.js';
import type { AmqpNames } from './amqp-config.js';

/**
 * Declares the service's broker topology, idempotently, at start-up: one durable direct
 * exchange, the input, results and failed queues bound to it by their own names, and one
 * delay queue per retry. A delay queue holds a message for its TTL, then dead-letters it
 * through the default exchange back to the input queue; the broker keeps it meanwhile, so
 * a restart of the service never loses a pending retry.
 *
 * Rejects with a DependencyError when the broker refuses a declaration (for example a queue
 * that exists with other arguments: PRECONDITION_FAILED).
 */
export async function declareTopology(channel: AmqpChannel, names: AmqpNames): Promise<void> {
  await channel.assertExchange(names.exchange, 'direct');
  for (const queue of [names.inputQueue, names.resultsQueue, names.failedQueue]) {
    await channel.assertQueue(queue);
    await channel.bindQueue(queue, names.exchange, queue);
  }
  for (const retry of names.retryQueues) {
    await channel.assertQueue(retry.name, {
      arguments: {
        'x-message-ttl': retry.delayMs,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': names.inputQueue,
      },
    });
  }
}
