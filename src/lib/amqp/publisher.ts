import type { AmqpChannel, AmqpMessage, MessageProperties } from './amqp-client.js';
import { tracePublish } from '../telemetry/trace-context.js';
import { Headers } from './disposition.js';
import {
  encodedTableBytes,
  fitsShortString,
  isWritableTimestamp,
  maxCopyHeaderBytes,
  republishable,
} from './header-encoding.js';

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
   * same body and properties, its headers merged with `headers`. Confirmed. Two properties do
   * not travel as properties (see `copyProperties`).
   */
  forward(queue: string, message: AmqpMessage, headers: Record<string, unknown>): Promise<void> {
    const properties = copyProperties(message, headers);
    return tracePublish(queue, queue, properties.headers, (merged) =>
      this.#channel.publish('', queue, message.body, { ...properties, headers: merged }),
    );
  }
}

/** Headers that keep the properties a copy must not carry, or could not. */
export const OriginalHeaders = {
  expiration: 'x-original-expiration',
  userId: 'x-original-user-id',
  /** A timestamp amqplib cannot write back (a uint64 near its maximum: read as 2^64). */
  timestamp: 'x-original-timestamp',
  /** Why the original's headers are not on the copy (too large to carry). */
  headersDropped: 'x-original-headers-dropped',
  /**
   * The original's `CC` and `BCC`: the broker routes every publish that carries them to those
   * queues too (sender-selected distribution), so a copy to the delay, failed or quarantine
   * queue that kept `CC: [input queue]` came back to the input: a failure copied itself
   * endlessly (a review helper saw 449 failed copies of one message in 6 s).
   */
  cc: 'x-original-cc',
  bcc: 'x-original-bcc',
  /**
   * An `x-death` the broker's own dead-lettering cannot read (a count that is no integer, an
   * entry that is no table): RabbitMQ 3.10's dead-lettering crashed on it and left the delay
   * queue dead, or the quarantine's dead-letter worker crashing in a loop with the message in it.
   */
  death: 'x-original-death',
  /** A copy is persistent whatever the original was (1, transient, is kept here). */
  deliveryMode: 'x-original-delivery-mode',
} as const;

/** Whether `value` is an `x-death` as the broker writes it, which its dead-lettering reads. */
function isWellFormedDeath(value: unknown): boolean {
  return (
    Array.isArray(value) &&
    value.every((entry: unknown) => {
      if (typeof entry !== 'object' || entry === null || Buffer.isBuffer(entry)) return false;
      if (Array.isArray(entry) || Object.hasOwn(entry, '!')) return false;
      const { count, queue, reason } = entry as Record<string, unknown>;
      return (
        Number.isSafeInteger(count) &&
        (count as number) >= 0 &&
        typeof queue === 'string' &&
        typeof reason === 'string'
      );
    })
  );
}

/**
 * The original's headers a copy may carry as they are; `CC`, `BCC` and an `x-death` the broker
 * cannot read go to `moved` under their `x-original-*` names.
 */
function carriedHeaders(
  headers: Readonly<Record<string, unknown>>,
  moved: Record<string, unknown>,
): Record<string, unknown> {
  const { CC, BCC, 'x-death': death, ...carried } = headers;
  if (CC !== undefined) moved[OriginalHeaders.cc] = CC;
  if (BCC !== undefined) moved[OriginalHeaders.bcc] = BCC;
  if (death === undefined) return carried;
  if (isWellFormedDeath(death)) return { ...carried, 'x-death': death };
  moved[OriginalHeaders.death] = death;
  return carried;
}

/**
 * The short-string properties (255 bytes at most) and the header that keeps one a copy
 * cannot carry: amqplib decodes bytes that are not UTF-8 as U+FFFD, 3 bytes each, so a
 * property of 86 such bytes or more cannot be written back (its encoder throws).
 */
export const shortStringProperties = {
  messageId: 'x-original-message-id',
  correlationId: 'x-original-correlation-id',
  contentType: 'x-original-content-type',
  contentEncoding: 'x-original-content-encoding',
  type: 'x-original-type',
  appId: 'x-original-app-id',
  replyTo: 'x-original-reply-to',
  clusterId: 'x-original-cluster-id',
} as const;

/**
 * The properties of a retry or failed copy: every property of the original, but
 * - `expiration` (a per-message TTL) would let the copy expire in a delay queue (back early)
 *   or in the failed queue (gone without a trace): kept in `x-original-expiration` instead;
 * - `userId` is checked by the broker against the publishing connection's user, so a message
 *   published by another user could not be copied at all: kept in `x-original-user-id`;
 * - a `timestamp` amqplib cannot write (a uint64 near its maximum) is kept in
 *   `x-original-timestamp`, and a short-string property too long to write back (see
 *   `shortStringProperties`) in its `x-original-...` header.
 * `headers` override the original's headers of the same name. The headers are made
 * `republishable()`; original headers too large for a copy (over `maxCopyHeaderBytes`
 * encoded) are left out, and `x-original-headers-dropped` says so, with their size, unless
 * leaving out an oversized `tracestate` alone is enough.
 */
/** The core's headers that a copy keeps when the others are too large to carry. */
const coreHeaderNames: ReadonlySet<string> = new Set([...Object.values(Headers), 'traceparent']);

/**
 * The headers the core itself writes on copies: what is left when even the core's headers of
 * the original are too large (any number of `x-original-*` headers of another's making).
 */
const fixedHeaderNames: ReadonlySet<string> = new Set([
  ...coreHeaderNames,
  ...Object.values(OriginalHeaders),
  ...Object.values(shortStringProperties),
]);

/**
 * The entries of `headers` that `names` takes and that encode in 1 KiB or less: in a fallback,
 * the original's headers of the core's own (attempt, correlation id, trace context, the
 * `x-original-*` of an earlier copy), since a quarantine move or a hand-back passes none of its
 * own, and without them a message on its last attempt got every retry again and lost its
 * correlation id; and what moved to `x-original-*` names.
 */
function smallHeaders(
  headers: Readonly<Record<string, unknown>>,
  names: (name: string) => boolean,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(republishable(headers)).filter(
      ([name, value]) => names(name) && encodedTableBytes({ [name]: value }) <= 1024,
    ),
  );
}

export function copyProperties(
  message: AmqpMessage,
  headers: Record<string, unknown>,
): MessageProperties {
  const { expiration, userId, timestamp, ...rest } = message.properties;
  const kept: MessageProperties = {};
  const writable = timestamp === undefined || isWritableTimestamp(timestamp);
  const moved: Record<string, unknown> = {
    ...(expiration !== undefined && { [OriginalHeaders.expiration]: expiration }),
    ...(userId !== undefined && { [OriginalHeaders.userId]: userId }),
    ...(!writable && { [OriginalHeaders.timestamp]: timestamp }),
  };
  for (const [name, value] of Object.entries(rest) as Array<[keyof typeof rest, unknown]>) {
    const header = (shortStringProperties as Partial<Record<string, string>>)[name];
    if (header !== undefined && typeof value === 'string' && !fitsShortString(value)) {
      moved[header] = value;
    } else {
      Object.assign(kept, { [name]: value });
    }
  }
  // A copy in a delay or failed queue must outlive a broker restart, whatever the original was.
  if (kept.persistent === false) moved[OriginalHeaders.deliveryMode] = 1;
  kept.persistent = true;
  const original = carriedHeaders(message.properties.headers, moved);
  let merged = republishable({ ...original, ...moved, ...headers });
  const bytes = encodedTableBytes(merged);
  if (bytes > maxCopyHeaderBytes) {
    // An oversized `tracestate` goes first, alone: W3C trace context lets any hop drop it (the
    // `traceparent` carries the trace), and it must not take the producer's headers with it.
    const { tracestate, ...rest } = merged;
    const withoutState = encodedTableBytes(rest);
    const dropped = {
      [OriginalHeaders.headersDropped]: `${bytes} bytes of headers encoded, over the ${maxCopyHeaderBytes} a copy can carry`,
    };
    // What moved (a large CC or x-death included) under 1 KiB each, as the original's headers.
    const small = smallHeaders(moved, () => true);
    const fallback = (names: (name: string) => boolean): Record<string, unknown> =>
      republishable({ ...smallHeaders(original, names), ...small, ...headers, ...dropped });
    merged =
      tracestate !== undefined && withoutState <= maxCopyHeaderBytes
        ? rest
        : fallback((name) => coreHeaderNames.has(name) || name.startsWith('x-original-'));
    // Any number of another's `x-original-*` headers of 1 KiB each: the core's own alone.
    if (encodedTableBytes(merged) > maxCopyHeaderBytes) {
      merged = fallback((name) => fixedHeaderNames.has(name));
    }
  }
  return { ...kept, ...(writable && timestamp !== undefined && { timestamp }), headers: merged };
}
