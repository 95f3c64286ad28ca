import { ConfigError, fieldOf } from '../primitives/errors.js';
import type { AmqpChannel } from './amqp-client.js';
import type { AmqpNames } from './amqp-config.js';
import { errorMessage } from './amqp-errors.js';

/**
 * Declares the service's broker topology, idempotently, at start-up: one durable direct
 * exchange, the input, results and failed queues bound to it by their own names, the
 * quarantine queue (quorum input only) and one delay queue per retry. A delay queue holds a
 * message for its TTL, then dead-letters it through the default exchange back to the input
 * queue; the broker keeps it meanwhile, so a restart of the service never loses a pending
 * retry.
 *
 * With `queueType` quorum (the default) the input and quarantine queues are quorum queues
 * with a delivery limit: a message delivered that many times without an ack is dead-lettered
 * to the failed queue by the broker (at-least-once: the broker keeps it until the failed
 * queue has confirmed it). docs/amqp.md, "Delivery limits", has the design.
 *
 * Each call is passed through `answered` (start-up bounds each one, not all together: a slow
 * but working broker, ~500 ms a call, failed the 11 calls' one bound of 5 s).
 *
 * Rejects with a ConfigError naming the queue, what differs and how to migrate when a queue
 * exists with other arguments (PRECONDITION_FAILED); with a DependencyError when the broker
 * refuses a declaration otherwise.
 */
export async function declareTopology(
  channel: AmqpChannel,
  names: AmqpNames,
  answered: <T>(what: string, call: Promise<T>) => Promise<T> = (_what, call) => call,
): Promise<void> {
  try {
    await answered(
      `the declaration of exchange ${names.exchange}`,
      channel.assertExchange(names.exchange, 'direct'),
    );
  } catch (error) {
    // An exchange of another type (or durability) by that name: a setting, not an outage;
    // a DependencyError (69) restarted the service for ever.
    if (!isPreconditionFailed(error)) throw error;
    throw new ConfigError(
      `exchange ${names.exchange} exists with other properties than this service declares (a durable direct exchange): the broker reports ${preconditionText(error)}; delete it (it holds no messages) or name another with AMQP_EXCHANGE`,
      { cause: error },
    );
  }
  const declare = async (queue: string, args?: Record<string, unknown>): Promise<void> => {
    try {
      await answered(
        `the declaration of queue ${queue}`,
        channel.assertQueue(queue, args === undefined ? {} : { arguments: args }),
      );
    } catch (error) {
      throw mismatch(queue, names, args, error) ?? error;
    }
  };
  for (const queue of [names.inputQueue, names.resultsQueue, names.failedQueue]) {
    await declare(queue, queue === names.inputQueue ? inputQueueArguments(names) : undefined);
    await answered(
      `the binding of queue ${queue}`,
      channel.bindQueue(queue, names.exchange, queue),
    );
  }
  if (names.quarantineQueue !== undefined) {
    await declare(names.quarantineQueue, inputQueueArguments(names));
  }
  for (const retry of names.retryQueues) {
    await declare(retry.name, {
      'x-message-ttl': retry.delayMs,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': names.inputQueue,
    });
  }
}

/**
 * The x-arguments of the input and quarantine queues. Quorum: delivery limit, dead-lettering
 * to the failed queue through the default exchange, at-least-once (which RabbitMQ 3.10+ only
 * honours with `reject-publish` overflow). Classic: none, as the queue was always declared.
 */
export function inputQueueArguments(names: AmqpNames): Record<string, unknown> | undefined {
  if (names.queueType === 'classic') return undefined;
  return {
    'x-queue-type': 'quorum',
    'x-delivery-limit': names.deliveryLimit,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': names.failedQueue,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

/** Whether the broker refused a declaration as PRECONDITION_FAILED (it exists, otherwise). */
function isPreconditionFailed(error: unknown): boolean {
  const code = fieldOf(fieldOf(error, 'cause'), 'code');
  return code === 406 || errorMessage(error).includes('PRECONDITION_FAILED');
}

/** What the broker says differs. */
function preconditionText(error: unknown): string {
  const text = errorMessage(error);
  return /PRECONDITION_FAILED - ([^"]*)/.exec(text)?.[1] ?? text;
}

/** A ConfigError for a PRECONDITION_FAILED declaration (the queue exists with other arguments). */
function mismatch(
  queue: string,
  names: AmqpNames,
  declared: Record<string, unknown> | undefined,
  error: unknown,
): ConfigError | undefined {
  if (!isPreconditionFailed(error)) return undefined;
  const differs = preconditionText(error);
  const isInput = queue === names.inputQueue || queue === names.quarantineQueue;
  const migrate = isInput
    ? `to migrate, stop every consumer of ${queue}, let it drain (or move its messages with ` +
      `a shovel), delete it (rabbitmqctl delete_queue ${queue}) and start the service again, ` +
      'which declares it anew; or set AMQP_INPUT_QUEUE to a new name and move producers to it; ' +
      'or keep the old queue with AMQP_QUEUE_TYPE=classic (no delivery limit: unprotected)'
    : `to migrate, let ${queue} drain, delete it (rabbitmqctl delete_queue ${queue}) and start ` +
      'the service again, which declares it anew';
  return new ConfigError(
    `queue ${queue} exists with other arguments than this service declares: the broker ` +
      `reports ${differs}; this service declares ${JSON.stringify(declared ?? {})}; ${migrate}`,
    { cause: error },
  );
}
