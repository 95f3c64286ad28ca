import type { AmqpMessage } from './amqp-client.js';
import { countHeader } from './header-values.js';

/**
 * What the broker tells us about earlier deliveries of a message, and the copy of a message
 * that goes back to a queue as a new publish (a move to the quarantine, a hand-back).
 *
 * A quorum queue counts the deliveries that ended without an ack (`x-delivery-count`, set
 * from the second delivery on); every queue sets `redelivered` on a delivery after the first.
 * A new publish starts both afresh: the copy drops the stale count.
 */

/** The header a quorum queue sets on a redelivery: deliveries so far that ended without an ack. */
export const deliveryCountHeader = 'x-delivery-count';

/** The broker's count of earlier deliveries of this message; undefined when it gave none. */
export function deliveryCountOf(message: AmqpMessage): number | undefined {
  return countHeader(message.properties.headers, deliveryCountHeader);
}

/** True when this is not the message's first delivery from its queue. */
export function isRedelivery(message: AmqpMessage): boolean {
  return message.redelivered || (deliveryCountOf(message) ?? 0) > 0;
}

/**
 * The message as a new publish would carry it: the same body and properties, without the
 * broker's delivery count (a copy is a new message to its queue; a stale count would only
 * mislead the next reader), nor the headers named in `without`.
 */
export function asNewPublish(message: AmqpMessage, without: readonly string[] = []): AmqpMessage {
  const headers = Object.fromEntries(
    Object.entries(message.properties.headers).filter(
      ([key]) => key !== deliveryCountHeader && !without.includes(key),
    ),
  );
  return { ...message, properties: { ...message.properties, headers } };
}
