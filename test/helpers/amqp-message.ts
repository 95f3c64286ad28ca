import type { AmqpMessage } from '../../src/lib/amqp/amqp-client.js';

/** A first delivery of `{}` from queue `q` with these properties (no headers unless given). */
export function deliveredMessage(properties: Partial<AmqpMessage['properties']> = {}): AmqpMessage {
  return {
    body: Buffer.from('{}'),
    deliveryTag: 1,
    redelivered: false,
    exchange: '',
    routingKey: 'q',
    properties: { headers: {}, ...properties },
  };
}
