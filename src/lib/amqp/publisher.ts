import type { AmqpChannel, AmqpMessage, MessageProperties } from './amqp-client.js';
import { tracePublish } from '../telemetry/trace-context.js';

/**
 * Publishes on a confirm channel: every call resolves once the broker has confirmed the
 * message (it is then the broker's responsibility) and rejects with a DependencyError when
 * it is nacked or the channel goes away. Many publishes may be in flight at once; amqplib
 * matches the confirms (including the broker's `multiple` acks) to them.
 */
export class Publisher {
  readonly #channel: AmqpChannel;
  readonly #exchange: string;
  readonly #appId: string;

  constructor(options: { channel: AmqpChannel; exchange: string; appId: string }) {
    this.#channel = options.channel;
    this.#exchange = options.exchange;
    this.#appId = options.appId;
  }

  /** Publishes `value` as JSON to the exchange with `routingKey`, persistent, confirmed. */
  publishJson(
    routingKey: string,
    value: unknown,
    properties: MessageProperties = {},
  ): Promise<void> {
    return this.publishJsonText(routingKey, JSON.stringify(value), properties);
  }

  /** Publishes text that is already JSON, as `publishJson` does (no re-encoding). */
  publishJsonText(
    routingKey: string,
    json: string,
    properties: MessageProperties = {},
  ): Promise<void> {
    const destination = this.#exchange === '' ? routingKey : this.#exchange;
    return tracePublish(destination, routingKey, properties.headers, (headers) =>
      this.#channel.publish(this.#exchange, routingKey, Buffer.from(json), {
        contentType: 'application/json',
        appId: this.#appId,
        timestamp: Math.floor(Date.now() / 1000),
        ...properties,
        ...(headers && { headers }),
      }),
    );
  }

  /**
   * Sends a copy of a delivered message straight to `queue` (through the default exchange):
   * same body and properties, its headers merged with `headers`. Confirmed.
   */
  forward(queue: string, message: AmqpMessage, headers: Record<string, unknown>): Promise<void> {
    const { properties } = message;
    return tracePublish(queue, queue, { ...properties.headers, ...headers }, (merged) =>
      this.#channel.publish('', queue, message.body, { ...properties, headers: merged }),
    );
  }
}
