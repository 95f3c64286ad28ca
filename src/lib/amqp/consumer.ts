import { withCorrelationId } from '../primitives/correlation.js';
import {
  DependencyError,
  ErrorCodes,
  PermanentError,
  WorkerBaseError,
} from '../primitives/errors.js';
import { handleError } from '../primitives/exception-scope.js';
import { classify } from '../primitives/classify.js';
import type { ProcessControl } from '../primitives/process-control.js';
import { raceAbort } from '../primitives/waits.js';
import type { Logger } from '../primitives/log.js';
import type { Metrics } from '../telemetry/metrics.js';
import { dependencyName, type AmqpChannel, type AmqpMessage } from './amqp-client.js';
import type { AmqpNames } from './amqp-config.js';
import {
  Headers,
  attemptOf,
  decideDisposition,
  endsProcess,
  errorText,
  failureHeaders,
  type Disposition,
} from './disposition.js';
import { shortStringProperties, type Publisher } from './publisher.js';
import { AckWindow, type AckSlot } from './ack-window.js';
import { correlationIdOf, messageIdOf } from './message-identity.js';
import {
  activeContextRunner,
  recordActiveError,
  withReceiveSpan,
  type ContextRunner,
} from '../telemetry/trace-context.js';
import { asNewPublish, deliveryCountOf, isRedelivery } from './redelivery.js';

/**
 * Consumes the input queue with manual acks: runs the handler for each message under its
 * correlation id, acks when the handler resolves (the handler resolves only once its results
 * are confirmed), and otherwise carries out the disposition: a delay queue, the failed queue,
 * or a give-back. The copy is confirmed before the original is acked, so a crash in between
 * duplicates a message but never loses one. Oversized bodies fail as poison before the
 * handler sees them. A consumer cancelled by the broker is a dependency failure.
 *
 * Delivery limits (docs/amqp.md): a redelivered message is logged once at warn and, when the
 * consumer has a `quarantine`, moved there as a new publish instead of being handled. A message
 * given back because the service stops for a reason of its own (`mayHandBack()`: a requested
 * stop, a dependency failure) goes back to its queue as a new publish, so it spends none of its
 * delivery limit; otherwise (a worker crashed or hung) it is nacked with requeue and the broker
 * counts the delivery. `pause()`/`resume()` let the quarantine run one suspect alone.
 */

/** One delivery as the handler sees it. */
export interface Delivery {
  message: AmqpMessage;
  /**
   * From the correlationId property, else the x-correlation-id header, else new; a new one
   * too when the given one is too long or has other characters than ids use (one warning).
   */
  correlationId: string;
  /** 1-based attempt number (from the x-attempt header). */
  attempt: number;
}

/** Does the work for one message; throws a typed error (see `classify()`) on failure. */
export type MessageHandler = (delivery: Delivery) => Promise<void>;

/** The consumer's state. */
export type ConsumerState =
  /** Created; not consuming yet. */
  | 'idle'
  /** Consuming: deliveries arrive. */
  | 'consuming'
  /** Paused while a quarantined message runs alone; `resume()` consumes again. */
  | 'paused'
  /** Cancelled (by us or the broker); in-flight messages may still finish. */
  | 'cancelled';

export interface QueueConsumerOptions {
  channel: AmqpChannel;
  publisher: Publisher;
  names: AmqpNames;
  maxMessageBytes: number;
  /**
   * Milliseconds a message may be in hand (from its delivery) before its handler counts as
   * stuck: the service then stops as an application error (70) and the broker gets the message
   * back. 0 or absent: no limit. Checked by one sweep, not a timer per message.
   */
  messageTimeoutMs?: number;
  log: Logger;
  metrics: Metrics;
  control: ProcessControl;
  handler: MessageHandler;
  /** The queue to consume; the input queue when absent. */
  queue?: string;
  /** Where redelivered messages are moved (a quorum input's quarantine); handled in place when absent. */
  quarantine?: string;
  /** Entered before and left after each handler run (the quarantine's run-alone gate). */
  gate?: { enter(): Promise<void>; leave(): Promise<void> };
  /**
   * True when messages given back now may go back as new publishes, sparing their delivery
   * limit: the service is not stopping, or stops on request or for a dependency. When false
   * (a worker crashed or hung), they are requeued and the broker counts the delivery.
   */
  mayHandBack?: () => boolean;
}

interface InFlight {
  delivery: Delivery;
  /** When it was delivered (performance.now()). */
  since: number;
  slot: AckSlot;
  settled: boolean;
  done: Promise<void>;
  /** Runs a function in the message's receive span (the stuck-message error is its). */
  inSpan: ContextRunner;
}

export class QueueConsumer {
  readonly #o: QueueConsumerOptions;
  readonly #log: Logger;
  readonly #queue: string;
  readonly #tags: Readonly<Record<string, string>>;
  readonly #inFlight = new Set<InFlight>();
  readonly #acks: AckWindow;
  #state: ConsumerState = 'idle';
  #consumerTag: string | undefined;
  #cancelling: Promise<void> | undefined;
  /** The pauses and resumes asked so far, one after the other (see pause()). */
  #turn: Promise<void> = Promise.resolve();
  /** Delay between the producer's timestamp and our receipt, of the latest message. */
  #lagMs: number | undefined;
  #received = 0;
  #settledCount = 0;
  #sweep: NodeJS.Timeout | undefined;

  constructor(options: QueueConsumerOptions) {
    this.#o = options;
    this.#queue = options.queue ?? options.names.inputQueue;
    this.#tags = { queue: this.#queue };
    this.#log = options.log.child({ component: 'consumer', queue: this.#queue });
    this.#acks = new AckWindow(options.channel);
  }

  get state(): ConsumerState {
    return this.#state;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Messages received and settled (acked, retried, failed or requeued) so far. */
  get counts(): { received: number; settled: number } {
    return { received: this.#received, settled: this.#settledCount };
  }

  /** Milliseconds from the latest message's timestamp property to its receipt, if it had one. */
  get lagMs(): number | undefined {
    return this.#lagMs;
  }

  /** Starts consuming; resolves once the broker has registered the consumer. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') return;
    if (!(await this.#consume())) return; // cancelled meanwhile, and undone
    this.#startSweep();
    this.#log.info({ state: this.#state }, 'consumer started');
  }

  /**
   * Looks for a message in hand longer than the message timeout, a quarter of it apart (at
   * most every 10 s). A handler that never settles (a call with no timeout, a request a thread
   * lost) would hold its prefetch slot for ever: enough of them and the service consumes
   * nothing while every check reads healthy, until the broker's own consumer timeout (30 min
   * on RabbitMQ) closes the channel. Off once the shutdown begins: the drain's bound rules then.
   */
  #startSweep(): void {
    const limitMs = this.#o.messageTimeoutMs ?? 0;
    const signal = this.#o.control.signal;
    if (limitMs <= 0 || this.#sweep !== undefined || signal.aborted) return;
    const sweep = setInterval(() => this.#findStuck(limitMs), Math.min(10_000, limitMs / 4));
    sweep.unref();
    this.#sweep = sweep;
    signal.addEventListener('abort', () => clearInterval(sweep), { once: true });
  }

  #findStuck(limitMs: number): void {
    const now = performance.now();
    for (const flight of this.#inFlight) {
      if (flight.settled || now - flight.since < limitMs) continue;
      clearInterval(this.#sweep);
      const { message } = flight.delivery;
      const error = new WorkerBaseError(
        ErrorCodes.MESSAGE_STUCK,
        `message ${message.properties.messageId} from ${this.#queue} has been in hand ${Math.round(now - flight.since)} ms, past AMQP_MESSAGE_TIMEOUT_MS (${limitMs}): its handler is stuck; the service stops and the broker gets it back`,
      );
      // In the message's span: the error line carries its trace ids, the span the failure.
      flight.inSpan(() =>
        withCorrelationId(flight.delivery.correlationId, () => {
          recordActiveError(error, classify(error));
          handleError(error, { name: 'amqp consumer', log: this.#log, control: this.#o.control });
        }),
      );
      return;
    }
  }

  /**
   * Stops taking deliveries and waits until every message in hand is settled and the broker
   * has taken the acks, so nothing of this consumer is unacked when it resolves. Pauses and
   * resumes run one after the other, in the order asked: a pause asked while a resume is under
   * way (the gate's `leave()` for one suspect, then `enter()` for the next) waits for it and
   * then pauses. Resolves at once when there is nothing to pause; never rejects (a channel
   * gone is reported by the client).
   */
  pause(): Promise<void> {
    return this.#inTurn(async () => {
      if (this.#state !== 'consuming') return;
      this.#state = 'paused';
      await this.#pause();
    });
  }

  /** Consumes again after `pause()`, in turn (see there). A no-op unless paused (or cancelled). */
  resume(): Promise<void> {
    return this.#inTurn(async () => {
      if (this.#state !== 'paused') return;
      try {
        if (await this.#consume()) this.#log.info({ state: this.#state }, 'consumer resumed');
      } catch (error) {
        handleError(error, { name: 'amqp consumer', log: this.#log, control: this.#o.control });
      }
    });
  }

  /** Runs a pause or resume after those asked before it; the chain never rejects. */
  #inTurn(step: () => Promise<void>): Promise<void> {
    const next = this.#turn.then(step);
    this.#turn = next.catch(() => undefined);
    return next;
  }

  /** Registers the consumer; resolves false when a cancel came meanwhile (then undone). */
  async #consume(): Promise<boolean> {
    const tag = await this.#o.channel.consume(this.#queue, (message) => {
      if (message === null) this.#onBrokerCancel();
      else this.#accept(message);
    });
    this.#consumerTag = tag;
    // Cancelled while the broker registered it (a stop during a resume, or during the first
    // start): take it back.
    if (this.#state === 'cancelled') {
      await this.#o.channel.cancel(tag).catch((error: unknown) => {
        this.#log.debug({ err: error }, 'consumer cancel failed (channel already gone)');
      });
      return false;
    }
    this.#state = 'consuming';
    return true;
  }

  async #pause(): Promise<void> {
    try {
      if (this.#consumerTag !== undefined) await this.#o.channel.cancel(this.#consumerTag);
      while (this.#inFlight.size > 0) {
        await Promise.allSettled([...this.#inFlight].map((f) => f.done));
      }
      this.#acks.flush();
      // A round trip on the channel: the broker has processed the acks sent before it.
      await this.#o.channel.checkQueue(this.#queue);
      this.#log.info({ state: this.#state }, 'consumer paused');
    } catch (error) {
      this.#log.debug({ err: error }, 'consumer pause failed (channel gone)');
    }
  }

  /** Stops taking deliveries (the 'stop-intake' step). Idempotent; never rejects. */
  cancel(): Promise<void> {
    this.#cancelling ??= this.#cancel();
    return this.#cancelling;
  }

  /**
   * Waits for the messages in flight (the 'drain' step). When `signal` aborts first, the
   * unfinished ones are nacked with requeue at once; their handlers may still finish, but
   * their acks are then skipped (a duplicate, never a loss).
   */
  async drain(signal: AbortSignal): Promise<void> {
    if (this.#inFlight.size === 0) {
      this.#acks.flush();
      return;
    }
    this.#log.info({ inFlight: this.#inFlight.size }, 'draining in-flight messages');
    const everything = async (): Promise<void> => {
      while (this.#inFlight.size > 0) {
        await Promise.allSettled([...this.#inFlight].map((f) => f.done));
      }
    };
    // Ends when everything settled or the signal aborts, whichever comes first.
    await raceAbort(everything(), signal).catch(() => undefined);
    const left = [...this.#inFlight].filter((f) => !f.settled);
    const handBack = this.#mayHandBack();
    const given = await Promise.all(left.map((flight) => this.#giveBack(flight, handBack)));
    this.#acks.flush();
    if (left.length > 0) {
      // What was given back, not what was tried: a hand-back not confirmed (or a channel the
      // broker closed, which has them all back) leaves the broker's requeue to do it.
      const done = given.filter(Boolean).length;
      this.#log.warn(
        { [handBack ? 'handedBack' : 'requeued']: done, unfinished: left.length },
        handBack
          ? 'drain timed out; unfinished messages handed back'
          : 'drain timed out; unfinished messages requeued',
      );
    }
  }

  async #cancel(): Promise<void> {
    if (this.#state === 'idle') {
      // Not started, or its first subscribe is under way (the quarantine's, started after
      // start-up, which a stop does not wait for): it undoes itself, and a start does nothing.
      this.#state = 'cancelled';
      return;
    }
    if (this.#state === 'paused') {
      // A pause or resume under way ends first (a resume then takes its consumer back).
      this.#state = 'cancelled';
      await this.#turn;
      return;
    }
    if (this.#state !== 'consuming' || this.#consumerTag === undefined) return;
    this.#state = 'cancelled';
    try {
      await this.#o.channel.cancel(this.#consumerTag);
      this.#log.info({ state: this.#state, inFlight: this.#inFlight.size }, 'consumer cancelled');
    } catch (error) {
      this.#log.debug({ err: error }, 'consumer cancel failed (channel already gone)');
    }
  }

  #onBrokerCancel(): void {
    if (this.#state === 'cancelled') return;
    this.#state = 'cancelled';
    this.#o.control.die(
      new DependencyError(
        dependencyName,
        `the broker cancelled the consumer of ${this.#queue} (queue deleted?)`,
      ),
    );
  }

  #accept(message: AmqpMessage): void {
    // A message without an id gets a stable one, carried by its retry and failed copies too;
    // so does one whose id cannot be written back (it is kept in a header).
    const givenId = message.properties.messageId;
    message.properties.messageId = messageIdOf(message);
    const { id: correlationId, rejected } = correlationIdOf(message);
    if (givenId !== undefined && givenId !== message.properties.messageId) {
      message.properties.headers[shortStringProperties.messageId] = givenId;
      withCorrelationId(correlationId, () =>
        this.#log.warn(
          {
            messageId: message.properties.messageId,
            reason: `${Buffer.byteLength(givenId)} bytes as UTF-8 (bytes that are not UTF-8 read as U+FFFD), over the 255 of a property`,
          },
          "message's id replaced",
        ),
      );
    }
    const delivery: Delivery = {
      message,
      correlationId,
      attempt: attemptOf(message.properties.headers, this.#o.names.retryQueues.length + 1),
    };
    if (rejected !== undefined) {
      withCorrelationId(correlationId, () =>
        this.#log.warn(
          { messageId: message.properties.messageId, reason: rejected },
          "message's correlation id replaced",
        ),
      );
    }
    this.#received++;
    this.#o.metrics.count('amqp_messages_received_total', 1, this.#tags);
    const lagMs = lagOf(message.properties.timestamp, delivery.attempt);
    if (lagMs !== undefined) this.#lagMs = lagMs;
    const flight: InFlight = {
      delivery,
      since: performance.now(),
      slot: this.#acks.add(message),
      settled: false,
      done: Promise.resolve(),
      inSpan: (fn) => fn(),
    };
    flight.done = withCorrelationId(correlationId, () =>
      withReceiveSpan(message, correlationId, this.#queue, () => {
        flight.inSpan = activeContextRunner();
        return this.#run(flight);
      }),
    );
    this.#inFlight.add(flight);
    void flight.done.finally(() => this.#inFlight.delete(flight));
  }

  async #run(flight: InFlight): Promise<void> {
    const { delivery } = flight;
    if (isRedelivery(delivery.message) && (await this.#onRedelivery(flight))) return;
    const started = performance.now();
    const gate = this.#o.gate;
    try {
      if (gate !== undefined) await gate.enter(); // no await (a turn, a promise) without one
      const size = delivery.message.body.length;
      if (size > this.#o.maxMessageBytes) {
        throw new PermanentError(
          `message of ${size} bytes is over the limit of ${this.#o.maxMessageBytes} bytes`,
        );
      }
      await this.#o.handler(delivery);
      this.#settle(flight, 'ack');
      this.#o.metrics.count('amqp_messages_processed_total', 1, this.#tags);
      this.#o.metrics.timing(
        'amqp_message_latency_seconds',
        performance.now() - started,
        this.#tags,
      );
    } catch (error) {
      this.#o.metrics.count('amqp_messages_failed_total', 1, this.#tags);
      await this.#fail(flight, error);
    } finally {
      if (gate !== undefined) await gate.leave().catch((error: unknown) => this.#gateFailed(error));
    }
  }

  #gateFailed(error: unknown): void {
    handleError(error, { name: 'amqp quarantine', log: this.#log, control: this.#o.control });
  }

  /**
   * Logs a redelivered message once at warn and, with a quarantine, moves it there (confirmed,
   * then acked). Resolves true when the message was taken care of here.
   */
  async #onRedelivery(flight: InFlight): Promise<boolean> {
    const { message } = flight.delivery;
    const quarantine = this.#o.quarantine;
    this.#log.warn(
      {
        messageId: message.properties.messageId,
        deliveryCount: deliveryCountOf(message),
        redelivered: message.redelivered,
        ...(quarantine !== undefined && { movedTo: quarantine }),
      },
      'redelivered message',
    );
    this.#o.metrics.count('amqp_messages_redelivered_total', 1, this.#tags);
    if (quarantine === undefined) return false;
    if (this.#returnedByBroker(flight)) return true;
    try {
      await this.#o.publisher.forward(quarantine, asNewPublish(message), {});
      this.#settle(flight, 'ack');
      this.#o.metrics.count('amqp_messages_quarantined_total', 1, this.#tags);
    } catch (error) {
      // Not confirmed: the original stays unacked and the broker delivers it again.
      handleError(error, { name: 'amqp consumer', log: this.#log, control: this.#o.control });
    }
    return true;
  }

  #mayHandBack(): boolean {
    return this.#o.mayHandBack?.() ?? false;
  }

  /**
   * Gives a message in hand back to its queue: as a new publish (confirmed, then acked), which
   * spends none of its delivery limit, when `handBack`; else by a nack with requeue, which the
   * broker counts. A hand-back that is not confirmed leaves the message unacked (the broker
   * has it back when the channel closes).
   */
  async #giveBack(flight: InFlight, handBack: boolean): Promise<boolean> {
    if (flight.settled || this.#returnedByBroker(flight)) return false;
    if (!handBack) {
      this.#settle(flight, 'requeue');
      return true;
    }
    flight.settled = true;
    try {
      await this.#o.publisher.forward(this.#queue, asNewPublish(flight.delivery.message), {});
      flight.settled = false;
      this.#settle(flight, 'ack');
      this.#o.metrics.count('amqp_messages_handed_back_total', 1, this.#tags);
      return true;
    } catch (error) {
      this.#log.debug({ err: error }, 'hand-back not confirmed; the broker keeps the message');
      return false;
    }
  }

  /**
   * Whether the message's channel is closed: the broker then has it back already (it requeues
   * what a closed channel left unacked), so no copy of it may be made, no hand-back, retry,
   * failed or quarantine copy: each was a second copy beside the broker's (a review helper
   * saw every message in hand processed three times when the broker closed the consume
   * channel alone). It counts as settled here.
   */
  #returnedByBroker(flight: InFlight): boolean {
    if (!this.#o.channel.isClosed) return false;
    flight.settled = true;
    this.#log.debug(
      { messageId: flight.delivery.message.properties.messageId },
      'message returned by the broker with its closed channel; no copy made',
    );
    return true;
  }

  async #fail(flight: InFlight, error: unknown): Promise<void> {
    const { delivery } = flight;
    const { control, publisher, names } = this.#o;
    const disposition = decideDisposition(
      error,
      delivery.attempt,
      names.retryQueues,
      control.signal.aborted,
    );
    const ends = endsProcess(disposition);
    if (this.#returnedByBroker(flight)) {
      if (ends) handleError(error, { name: 'amqp consumer', log: this.#log, control });
      return;
    }
    if (flight.settled) {
      // Handed back already (the drain's time ran out): how its handler ended later (a
      // thread stopped under it, its result's confirm lost with the channel) is no failure
      // of the message's, and the copy handed back is what the broker has. Each was logged as
      // 'message given back', a second time.
      this.#log.debug(
        { err: error, messageId: delivery.message.properties.messageId },
        'message handed back ended its handling since; nothing more done',
      );
      return;
    }
    this.#reportFailure(disposition, error);
    recordActiveError(error, disposition.kind);
    try {
      if (disposition.action === 'retry') {
        await publisher.forward(disposition.queue, asNewPublish(delivery.message), {
          [Headers.attempt]: disposition.attempt,
          [Headers.correlationId]: delivery.correlationId,
          [Headers.lastError]: errorText(error, 500),
        });
        this.#o.metrics.count('amqp_messages_retried_total', 1, this.#tags);
      } else if (disposition.action === 'fail') {
        // Without its x-attempt (x-attempts says how many were made): a message moved back
        // from the failed queue (a shovel, an operator's replay) came back on its last
        // attempt, and a transient failure sent it straight back, never retried.
        const copy = asNewPublish(delivery.message, [Headers.attempt]);
        await publisher.forward(names.failedQueue, copy, {
          ...failureHeaders(error, disposition, delivery.attempt, names.inputQueue),
          [Headers.correlationId]: delivery.correlationId,
        });
        this.#o.metrics.count('amqp_messages_dead_lettered_total', 1, this.#tags);
      }
      // Said once the copy is confirmed: before, a refused copy's message read 'retry
      // scheduled' or 'moved to failed queue', and neither had happened.
      this.#logFailure(delivery, disposition, error);
      if (disposition.action === 'requeue') {
        // The message was not at fault where the process ends: a hand-back spends none of its
        // delivery limit.
        await this.#giveBack(flight, ends || this.#mayHandBack());
      } else {
        this.#settle(flight, 'ack');
      }
    } catch (publishError) {
      // The copy was not confirmed. Refused by a dependency (a retry queue at its length
      // limit, a nack, a lost connection): the message was not at fault, so it is handed back,
      // sparing its delivery limit (left unacked, each restart spent one delivery, and a message
      // one retry from success was dead-lettered with its retries never run). Else, or if the
      // hand-back is refused too, the original stays unacked and the broker redelivers it.
      const refusedBy = classify(publishError) === 'dependency';
      const handedBack = refusedBy && (await this.#giveBack(flight, true));
      this.#log.warn(
        {
          ...this.#failureFields(delivery, error, disposition),
          copyError: errorText(publishError, 500),
          handedBack,
        },
        disposition.action === 'retry'
          ? 'message failed; its retry copy was not confirmed'
          : 'message failed; its failed-queue copy was not confirmed',
      );
      handleError(publishError, { name: 'amqp consumer', log: this.#log, control });
    }
    if (ends) handleError(error, { name: 'amqp consumer', log: this.#log, control });
  }

  #failureFields(delivery: Delivery, error: unknown, disposition: Disposition) {
    return {
      err: error,
      kind: disposition.kind,
      attempt: delivery.attempt,
      messageId: delivery.message.properties.messageId,
    };
  }

  #logFailure(delivery: Delivery, disposition: Disposition, error: unknown): void {
    const fields = this.#failureFields(delivery, error, disposition);
    switch (disposition.action) {
      case 'retry':
        this.#log.warn(
          { ...fields, nextAttempt: disposition.attempt, delayMs: disposition.delayMs },
          'message failed; retry scheduled',
        );
        break;
      case 'fail':
        this.#log.warn({ ...fields, reason: disposition.reason }, 'message moved to failed queue');
        break;
      case 'requeue':
        this.#log.info(fields, 'message given back');
    }
  }

  #reportFailure(disposition: Disposition, error: unknown): void {
    // A bug in the handler is reported once per failure, whatever becomes of the message (a
    // configuration error is no bug: the exception scope logs it, unreported).
    if (
      disposition.kind === 'unexpected' &&
      !endsProcess(disposition) &&
      !this.#o.control.signal.aborted
    ) {
      this.#o.control.report(error, { scope: 'amqp consumer', queue: this.#queue });
    }
  }

  #settle(flight: InFlight, how: 'ack' | 'requeue'): void {
    if (flight.settled) return;
    flight.settled = true;
    this.#settledCount++;
    if (how === 'ack') this.#acks.ack(flight.slot);
    else {
      this.#acks.nack(flight.slot, true);
      this.#o.metrics.count('amqp_messages_requeued_total', 1, this.#tags);
    }
  }
}

/**
 * A first delivery's lag, from its producer's `timestamp` (seconds) to now; none for a retry
 * (its timestamp is the original's: the lag would be its delays) nor for a timestamp that is
 * no time a producer sent at: before 2000, or more than a minute ahead of this clock (one set
 * in milliseconds reads as the year 50,000). One message with `timestamp: 1` made the lag
 * 57 years, in `queue stats` and `amqp_consumer_lag_seconds`, until the next message.
 */
export function lagOf(timestamp: number | undefined, attempt: number): number | undefined {
  if (timestamp === undefined || attempt !== 1) return undefined;
  const sentAt = timestamp * 1000;
  const now = Date.now();
  if (!(sentAt >= Date.UTC(2000, 0, 1)) || sentAt > now + 60_000) return undefined;
  return Math.max(0, now - sentAt);
}

/**
 * How long a drain that timed out has, past the step timeout its handlers had, for its
 * hand-backs: each unfinished message published anew, confirmed, and only then its original
 * acked. The drain step's timeout is both together: raced against one signal, the hand-backs
 * ran past the step, the coordinator went on to close the channels, and with confirms slower
 * than the worker threads' stop (1.5 s, measured through a slowed proxy) the originals came
 * back beside their copies: 17 messages in the input queue for 12.
 */
export const handBackMs = 5_000;

/** The 'drain' step of a consumer: its handlers within `stepTimeoutMs`, then its hand-backs. */
export function drainStep(name: string, consumer: QueueConsumer, stepTimeoutMs: number) {
  return {
    name,
    phase: 'drain' as const,
    timeoutMs: stepTimeoutMs + handBackMs,
    run: (signal: AbortSignal) =>
      consumer.drain(AbortSignal.any([signal, AbortSignal.timeout(stepTimeoutMs)])),
  };
}
