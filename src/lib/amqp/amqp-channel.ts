import type * as amqp from 'amqplib';
import type { BlockedConnection } from './connection-blocked.js';
import { AmqpChannelClosedError, brokerFailure, fromAmqplib } from './amqp-errors.js';

/**
 * One AMQP channel behind our own small types (amqplib itself is loaded by amqp-client.ts
 * alone; this file uses its types only), and the conversion of delivered messages.
 */

/** Message properties: every basic property AMQP 0-9-1 defines. */
export interface MessageProperties {
  messageId?: string;
  correlationId?: string;
  contentType?: string;
  contentEncoding?: string;
  type?: string;
  appId?: string;
  /** The publishing user; the broker checks it against the connection's user. */
  userId?: string;
  replyTo?: string;
  /** Per-message TTL, milliseconds as a string. */
  expiration?: string;
  priority?: number;
  /** Seconds since the epoch (AMQP timestamp). */
  timestamp?: number;
  headers?: Record<string, unknown>;
  /** Delivery mode 2 (persistent) or 1; a publish is persistent unless told otherwise. */
  persistent?: boolean;
  /** Deprecated by AMQP 0-9-1; carried through unchanged. */
  clusterId?: string;
}

/** One delivered message. */
export interface AmqpMessage {
  body: Buffer;
  deliveryTag: number;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
  properties: MessageProperties & { headers: Record<string, unknown> };
}

export interface QueueOptions {
  /** x-arguments: x-message-ttl, x-dead-letter-exchange, ... */
  arguments?: Record<string, unknown>;
}

export interface QueueInfo {
  queue: string;
  /** Messages ready for delivery (not counting those delivered and unacked). */
  messageCount: number;
  consumerCount: number;
}

/** One AMQP channel. Operations reject with a DependencyError when the channel is gone. */
export class AmqpChannel {
  readonly name: string;
  readonly #raw: amqp.Channel | amqp.ConfirmChannel;
  readonly #confirm: boolean;
  #closed = false;
  /** Why the broker closed the channel (its 'error' comes before 'close'), if it said. */
  #closeError: unknown;
  #closing: Promise<void> | undefined;
  #writable: Promise<void> | undefined;
  /** Confirmed publishes awaiting their confirm, to match a basic.return to one of them. */
  readonly #unconfirmed = new Set<PendingPublish>();
  /** The connection's blocked state: bounds how long a publish waits on a blocked connection. */
  readonly #blocked: BlockedConnection | undefined;

  constructor(
    name: string,
    raw: amqp.Channel | amqp.ConfirmChannel,
    confirm: boolean,
    onLost: (message: string, error: unknown) => void,
    blocked?: BlockedConnection,
  ) {
    this.name = name;
    this.#blocked = blocked;
    // Publishes still waiting for their confirm when the block has lasted too long fail.
    blocked?.onTimeout((error) => {
      for (const pending of this.#unconfirmed) pending.reject(error);
      this.#unconfirmed.clear();
    });
    this.#raw = raw;
    this.#confirm = confirm;
    raw.on('error', (error: unknown) => {
      this.#closeError ??= error;
      onLost('error', error);
    });
    raw.on('close', () => {
      this.#closed = true;
      if (this.#closing === undefined) onLost('closed', undefined);
    });
    raw.on('drain', () => (this.#writable = undefined));
    raw.on('return', (returned: amqp.Message) => this.#onReturn(returned));
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  async assertExchange(name: string, type: 'direct' | 'topic' | 'fanout'): Promise<void> {
    await this.#call(`declare exchange ${name}`, () =>
      this.#raw.assertExchange(name, type, { durable: true }),
    );
  }

  async assertQueue(name: string, options: QueueOptions = {}): Promise<void> {
    await this.#call(`declare queue ${name}`, () =>
      this.#raw.assertQueue(name, { durable: true, arguments: options.arguments }),
    );
  }

  async bindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    await this.#call(`bind ${queue} to ${exchange}`, () =>
      this.#raw.bindQueue(queue, exchange, routingKey),
    );
  }

  /** Depth and consumers of a queue. A missing queue closes the channel (a dependency loss). */
  async checkQueue(queue: string): Promise<QueueInfo> {
    const reply = await this.#call(`check queue ${queue}`, () => this.#raw.checkQueue(queue));
    return {
      queue: reply.queue,
      messageCount: reply.messageCount,
      consumerCount: reply.consumerCount,
    };
  }

  /**
   * Starts a consumer with manual acks. `onMessage(null)` means the broker cancelled it
   * (queue deleted). Resolves with the consumer tag.
   */
  async consume(queue: string, onMessage: (message: AmqpMessage | null) => void): Promise<string> {
    const reply = await this.#call(`consume ${queue}`, () =>
      this.#raw.consume(queue, (raw) => onMessage(raw === null ? null : fromRaw(raw)), {
        noAck: false,
      }),
    );
    return reply.consumerTag;
  }

  /** Stops a consumer; no more deliveries after it resolves. */
  async cancel(consumerTag: string): Promise<void> {
    await this.#call(`cancel consumer ${consumerTag}`, () => this.#raw.cancel(consumerTag));
  }

  /**
   * Acks one delivery, or with `upTo` every unsettled delivery up to and including it. A no-op
   * on a channel that is closed or closing (the broker redelivers what was not acked): amqplib
   * throws 'Channel closing' from the moment `close()` is called.
   */
  ack(message: AmqpMessage, upTo = false): void {
    if (this.#settles) this.#raw.ack(toRaw(message), upTo);
  }

  /** Nacks one delivery, requeued or not. A no-op on a channel that is closed or closing. */
  nack(message: AmqpMessage, requeue: boolean): void {
    if (this.#settles) this.#raw.nack(toRaw(message), false, requeue);
  }

  /** Whether an ack or nack can still go out: the channel neither closed nor closing. */
  get #settles(): boolean {
    return !this.#closed && this.#closing === undefined;
  }

  /**
   * Publishes one message (persistent unless told otherwise). On a confirm channel resolves
   * when the broker has taken responsibility for it; rejects with a DependencyError when the
   * broker nacks it, the channel closes first, or the broker has blocked the connection for
   * longer than the client's blocked timeout.
   */
  publish(
    exchange: string,
    routingKey: string,
    body: Buffer,
    properties: MessageProperties = {},
  ): Promise<void> {
    // Not async: one promise a publish (its confirm), none for the function itself.
    if (this.#closed) return Promise.reject(this.#gone(`publish on channel ${this.name}`));
    const blocked = this.#blocked?.timedOut;
    if (blocked !== undefined) return Promise.reject(blocked);
    // Backpressure: wait for the socket buffer to drain before writing more.
    if (this.#writable !== undefined) {
      return this.#writable.then(() => {
        this.#throwIfBlockedTooLong();
        return this.#write(exchange, routingKey, body, properties);
      });
    }
    return this.#write(exchange, routingKey, body, properties);
  }

  #write(
    exchange: string,
    routingKey: string,
    body: Buffer,
    properties: MessageProperties,
  ): Promise<void> {
    // Mandatory: a message no queue takes (a queue deleted or unbound at run time) comes
    // back as basic.return before its confirm, instead of being confirmed and dropped.
    // (amqplib skips a property that is undefined; only `persistent` has a default here.)
    const options = { mandatory: true, ...properties, persistent: properties.persistent ?? true };
    if (!this.#confirm) {
      try {
        this.#afterWrite(this.#raw.publish(exchange, routingKey, body, options));
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const pending: PendingPublish = { exchange, routingKey, body, returned: undefined, reject };
      this.#unconfirmed.add(pending);
      const written = (this.#raw as amqp.ConfirmChannel).publish(
        exchange,
        routingKey,
        body,
        options,
        (error: unknown) => {
          this.#unconfirmed.delete(pending);
          if (error !== null && error !== undefined) {
            // Unconfirmed because the broker closed the channel: say why it did (our frame
            // or an outage), as the connection's onLost does.
            const what = `publish to ${exchange}/${routingKey} not confirmed`;
            reject(this.#closeError === undefined ? fromAmqplib(what, error) : this.#gone(what));
          } else if (pending.returned !== undefined) {
            reject(
              brokerFailure(
                `publish to ${exchange}/${routingKey} was returned unroutable (${pending.returned}): ` +
                  'its queue is missing or unbound',
                pending.returned,
              ),
            );
          } else {
            resolve();
          }
        },
      );
      this.#afterWrite(written);
    });
  }

  /**
   * A returned message is matched to the unconfirmed publish with the same route and body
   * (returns are rare: the scan costs nothing on the normal path). Its confirm, which the
   * broker sends after the return, then rejects instead of resolving.
   */
  #onReturn(returned: amqp.Message): void {
    const { exchange, routingKey, replyCode, replyText } =
      returned.fields as amqp.Message['fields'] & {
        replyCode?: number;
        replyText?: string;
      };
    for (const pending of this.#unconfirmed) {
      if (
        pending.returned === undefined &&
        pending.exchange === exchange &&
        pending.routingKey === routingKey &&
        pending.body.equals(returned.content)
      ) {
        pending.returned = `${String(replyCode)} ${String(replyText)}`;
        return;
      }
    }
  }

  /** Closes the channel. Idempotent; never rejects. */
  close(): Promise<void> {
    this.#closing ??= this.#closed
      ? Promise.resolve()
      : this.#raw.close().then(
          () => undefined,
          () => undefined,
        );
    return this.#closing;
  }

  /** The error for an operation on a closed channel, classified by the broker's reason. */
  #gone(what: string): Error {
    return this.#closeError === undefined
      ? new AmqpChannelClosedError(`${what}: channel closed`)
      : fromAmqplib(what, this.#closeError);
  }

  #throwIfBlockedTooLong(): void {
    const error = this.#blocked?.timedOut;
    if (error !== undefined) throw error;
  }

  #afterWrite(written: boolean): void {
    if (!written && this.#writable === undefined) {
      this.#writable = new Promise((resolve) => {
        const done = (): void => {
          this.#raw.off('drain', done);
          this.#raw.off('close', done);
          resolve();
        };
        this.#raw.on('drain', done);
        this.#raw.on('close', done);
      });
    }
  }

  async #call<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw fromAmqplib(`${what} on channel ${this.name}`, error);
    }
  }
}

interface PendingPublish {
  exchange: string;
  routingKey: string;
  body: Buffer;
  /** Set when the broker returned the message: "<reply code> <reply text>". */
  returned: string | undefined;
  /** Rejects the publish before its confirm (the connection is blocked for too long). */
  reject: (error: Error) => void;
}

const rawMessages = new WeakMap<AmqpMessage, amqp.Message>();

function fromRaw(raw: amqp.ConsumeMessage): AmqpMessage {
  const p = raw.properties;
  const message: AmqpMessage = {
    body: raw.content,
    deliveryTag: raw.fields.deliveryTag,
    redelivered: raw.fields.redelivered,
    exchange: raw.fields.exchange,
    routingKey: raw.fields.routingKey,
    properties: {
      messageId: stringOrUndefined(p.messageId),
      correlationId: stringOrUndefined(p.correlationId),
      contentType: stringOrUndefined(p.contentType),
      contentEncoding: stringOrUndefined(p.contentEncoding),
      type: stringOrUndefined(p.type),
      appId: stringOrUndefined(p.appId),
      userId: stringOrUndefined(p.userId),
      replyTo: stringOrUndefined(p.replyTo),
      expiration: stringOrUndefined(p.expiration),
      priority: typeof p.priority === 'number' ? p.priority : undefined,
      timestamp: typeof p.timestamp === 'number' ? p.timestamp : undefined,
      headers: ownEntries(p.headers),
      persistent: p.deliveryMode === undefined ? undefined : p.deliveryMode === 2,
      clusterId: stringOrUndefined(p.clusterId),
    },
  };
  rawMessages.set(message, raw);
  return message;
}

/**
 * The headers as a plain object of their own entries. amqplib's decoder assigns each key, so a
 * header table named `__proto__` becomes the prototype of the object it returns, and every
 * name in it would read as a header the message does not have (a forged `x-attempt`).
 */
function ownEntries(headers: unknown): Record<string, unknown> {
  if (typeof headers !== 'object' || headers === null) return {};
  return Object.fromEntries(Object.entries(headers as Record<string, unknown>));
}

function toRaw(message: AmqpMessage): amqp.Message {
  const raw = rawMessages.get(message);
  if (raw === undefined) throw new Error('not a message delivered by this client');
  return raw;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
