import { newCorrelationId } from '../primitives/correlation.js';
import type { AmqpMessage } from './amqp-channel.js';
import { Headers } from './disposition.js';
import { fitsShortString } from './header-encoding.js';
const { createHash } = process.getBuiltinModule('node:crypto');

/**
 * The identity of a delivered message: its message id (a stable one derived from the message
 * when the producer set none) and its correlation id (bounded in length and characters, since
 * it is copied to every log line of the message's processing).
 */

/** The longest correlation id taken from a message. */
export const maxCorrelationIdLength = 128;

/** Letters, digits and `. _ : / + = @ -`: what ids, UUIDs and trace ids use, nothing that breaks a log line. */
const correlationIdPattern = /^[\w.:/+=@-]+$/;

/**
 * The properties that say what a message is, besides its body. Headers are left out: the
 * core's own (x-attempt, x-last-error) and the broker's (x-death) change on every retry.
 */
const identifyingProperties = [
  'correlationId',
  'type',
  'appId',
  'contentType',
  'contentEncoding',
  'timestamp',
] as const;

/**
 * The message's `messageId`, or when it has none (or one that cannot be written back as a
 * property: bytes that are not UTF-8, read as U+FFFD, past 255 bytes) an id derived from the message itself:
 * `sha256:` and the first 32 hex digits of the SHA-256 of the identifying properties and the
 * body. The same message delivered again (a redelivery, a producer's resend of the same
 * bytes) gets the same id, so downstream can deduplicate its results.
 */
export function messageIdOf(message: AmqpMessage): string {
  const given = message.properties.messageId;
  if (given !== undefined && fitsShortString(given)) return given;
  const hash = createHash('sha256');
  if (given !== undefined) hash.update(`messageId=${given}\n`);
  for (const name of identifyingProperties) {
    hash.update(`${name}=${String(message.properties[name] ?? '')}\n`);
  }
  hash.update(message.body);
  return `sha256:${hash.digest('hex').slice(0, 32)}`;
}

/**
 * The correlation id of a message: the `correlationId` property, else the `x-correlation-id`
 * header, else a new one. One that is longer than `maxCorrelationIdLength` or has other
 * characters than `correlationIdPattern` allows is replaced: by the header's when that one
 * is fit (a retry copy's, the replacement of an earlier attempt), else by a new one;
 * `rejected` then says why (for a warning), without repeating the value.
 */
export function correlationIdOf(message: AmqpMessage): { id: string; rejected?: string } {
  const header = message.properties.headers[Headers.correlationId];
  const fromHeader = typeof header === 'string' && header !== '' ? header : undefined;
  const given = message.properties.correlationId ?? fromHeader;
  if (given === undefined) return { id: newCorrelationId() };
  const rejected = rejectionOf(given);
  if (rejected === undefined) return { id: given };
  // A retry copy keeps the producer's property and carries the id that replaced it in the
  // header: every attempt made a new one, and their log lines could not be joined.
  const replaced = fromHeader !== undefined && rejectionOf(fromHeader) === undefined;
  return { id: replaced ? fromHeader : newCorrelationId(), rejected };
}

/** Why a correlation id cannot be used as it is; undefined when it can. */
function rejectionOf(id: string): string | undefined {
  if (id.length > maxCorrelationIdLength) {
    return `${id.length} characters, over the limit of ${maxCorrelationIdLength}`;
  }
  if (!correlationIdPattern.test(id)) {
    return 'characters other than letters, digits and . _ : / + = @ -';
  }
  return undefined;
}
