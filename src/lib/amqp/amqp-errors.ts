import {
  DependencyError,
  ErrorCodes,
  WorkerBaseError,
  fieldOf,
  type WorkerBaseErrorOptions,
} from '../primitives/errors.js';
import { serializeError } from '../primitives/error-serialization.js';

/**
 * amqplib's errors made ours, where amqplib is called (the AMQP client and channel): what
 * `classify()` and the exception scope then read is our code, never amqplib's messages or
 * reply codes. amqplib's error stays the `cause`.
 */

export const dependencyName = 'rabbitmq';

/** The message of any thrown value, for the text of the error that wraps it. */
export function errorMessage(error: unknown): string {
  return serializeError(error).message;
}

/** A DependencyError on the broker: `what` failed because of `error` (kept as its cause). */
export function brokerFailure(what: string, error: unknown): DependencyError {
  return new DependencyError(dependencyName, `${what}: ${errorMessage(error)}`, { cause: error });
}

/**
 * The broker closed a channel or the connection because of a frame we sent: an ack of a
 * delivery tag it does not know (a double ack), a command out of place, a message it refuses.
 * A bug of ours, not an outage: `classify()` says 'unexpected' (reported, exit 70).
 */
export class AmqpProtocolError extends WorkerBaseError {
  constructor(message: string, options: WorkerBaseErrorOptions = {}) {
    super(ErrorCodes.AMQP_PROTOCOL, `${dependencyName}: ${message}`, options);
  }
}

/**
 * A channel closed under an operation: closed by us (a shutdown) or by the broker (a missing
 * queue, refused access, the connection gone). A dependency failure like DependencyError, with
 * a code of its own (E_AMQP_CHANNEL_CLOSED) so that the exception scope can tell the noise of
 * a shutdown closing its channels from an outage.
 */
export class AmqpChannelClosedError extends WorkerBaseError {
  readonly dependency = dependencyName;
  constructor(message: string, options: WorkerBaseErrorOptions = {}) {
    super(ErrorCodes.AMQP_CHANNEL_CLOSED, `${dependencyName}: ${message}`, {
      retryable: true,
      ...options,
    });
  }
}

/** What an amqplib error becomes where it enters (see `fromAmqplib()`). */
export type BrokerError = DependencyError | AmqpProtocolError | AmqpChannelClosedError;

/**
 * AMQP reply codes (amqplib sets them as a numeric `code` on connection and channel close
 * errors) that mean the broker is gone or set up differently from what we expect: 320
 * connection forced, 402 invalid path, 403 access refused, 404 not found, 405 resource locked,
 * 530 not allowed, 541 internal error. 406 precondition failed is decided apart: a topology
 * mismatch ("inequivalent arg") or our own bug (an unknown delivery tag).
 */
const dependencyReplyCodes = new Set([320, 402, 403, 404, 405, 530, 541]);

/** RabbitMQ's 406 when a delivery stayed unacked past its consumer_timeout (30 min default). */
const consumerTimeout = /delivery acknowledgement on channel \d+ timed out/;

/** amqplib's messages (2.x) for an operation on a channel that is closed or closing. */
const closedChannel = /^(Channel closed|Channel ended|channel closed)/;

/** True when the broker closed a channel or the connection because of a frame of ours. */
function isOurFrameAtFault(error: unknown): boolean {
  const code = fieldOf(error, 'code');
  if (typeof code !== 'number') return false;
  if (code === 406) return !errorMessage(error).includes('inequivalent arg');
  return code >= 500 && !dependencyReplyCodes.has(code);
}

/**
 * Our error for what amqplib threw or emitted, decided here where it enters: a close the
 * broker made because of our frame (406 other than "inequivalent arg", 5xx frame and command
 * errors, 540 not implemented...) is an AmqpProtocolError; an operation on a closed channel
 * (amqplib's "Channel closed", "Channel ended", the broker's "Channel closed by server: 404
 * ...") an AmqpChannelClosedError; anything else (a lost socket, a missed heartbeat, refused
 * credentials, a forced close, a topology mismatch) a DependencyError. Other reply codes below
 * 500 arrive as "Channel closed by server" or "Connection closed", and are a dependency
 * failure either way.
 */
export function fromAmqplib(what: string, error: unknown): BrokerError {
  const message = `${what}: ${errorMessage(error)}`;
  if (consumerTimeout.test(message)) {
    // Not a frame of ours: a handler held a message past the broker's consumer_timeout. Still
    // a bug of ours (70, as a message stuck past AMQP_MESSAGE_TIMEOUT_MS), said as such.
    return new AmqpProtocolError(
      `${message}; a handler held a message unacked past the broker's consumer_timeout: keep AMQP_MESSAGE_TIMEOUT_MS on and below it, so the service names the message and stops first`,
      { cause: error },
    );
  }
  if (isOurFrameAtFault(error)) return new AmqpProtocolError(message, { cause: error });
  if (closedChannel.test(errorMessage(error))) {
    return new AmqpChannelClosedError(message, { cause: error });
  }
  return brokerFailure(what, error);
}
