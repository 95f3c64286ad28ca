import { setTimeout as delay } from 'node:timers/promises';
// The chaos tool is an independent observer of the service: bare amqplib, as the tests' own.
import * as amqp from 'amqplib';
import { quorumInput } from '../../test/helpers/broker.js';
import type { MessageKind, Tally } from './tally.js';

/**
 * The chaos soak's own broker client: publishes the input messages (persistent, confirmed)
 * and consumes the results and failed queues into a Tally. Unlike the service it reconnects:
 * it has to outlive the broker restart it causes. `pause()` holds publishing (and waits for
 * the batch in flight to be confirmed) so nothing is half-published when the broker stops.
 */

export interface QueueNames {
  input: string;
  results: string;
  failed: string;
}

export interface Outgoing {
  id: string;
  kind: MessageKind;
  body: string;
}

interface Link {
  connection: amqp.ChannelModel;
  publisher: amqp.ConfirmChannel;
  closed: Promise<void>;
}

export class ChaosObserver {
  readonly #url: string;
  readonly #queues: QueueNames;
  readonly #tally: Tally;
  #link: Link | undefined;
  #connecting: Promise<Link> | undefined;
  #closing = false;
  #paused: Promise<void> | undefined;
  #resume: (() => void) | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  #everConnected = false;
  #signal: AbortSignal | undefined;
  /** Connections after the first: one per broker outage the observer lived through. */
  reconnects = 0;
  /** Messages published again because their confirm was lost with the connection. */
  republished = 0;

  constructor(url: string, queues: QueueNames, tally: Tally) {
    this.#url = url;
    this.#queues = queues;
    this.#tally = tally;
  }

  /** Connects (retrying while the broker is down) and starts consuming. */
  async start(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    await this.#connected(signal);
  }

  /** Holds publishing from the next batch on; resolves when the batch in flight is confirmed. */
  async pause(): Promise<void> {
    this.#paused ??= new Promise((resolve) => (this.#resume = resolve));
    await this.#inFlight;
  }

  resume(): void {
    this.#resume?.();
    this.#paused = undefined;
    this.#resume = undefined;
  }

  /**
   * Publishes `messages` at `ratePerS`, in batches every 100 ms, each confirmed before it is
   * recorded. A batch whose connection was lost before its confirm is published again (at
   * least once, as any producer would). Resolves when all are confirmed. Each message is
   * recorded in the tally as it is first sent.
   */
  async publishAll(messages: Outgoing[], ratePerS: number, signal: AbortSignal): Promise<void> {
    const tickMs = 100;
    const perTick = Math.max(1, Math.round((ratePerS * tickMs) / 1000));
    const startedAt = performance.now();
    for (let i = 0, tick = 0; i < messages.length; i += perTick, tick++) {
      const wait = startedAt + tick * tickMs - performance.now();
      if (wait > 0) await delay(wait, undefined, { signal });
      if (this.#paused !== undefined) await abortable(this.#paused, signal);
      const batch = messages.slice(i, i + perTick);
      const sent = this.#publishBatch(batch, signal);
      this.#inFlight = sent.catch(() => undefined);
      await sent;
    }
  }

  async #publishBatch(batch: Outgoing[], signal: AbortSignal): Promise<void> {
    for (;;) {
      const link = await this.#connected(signal);
      try {
        for (const m of batch) {
          // Recorded before it is sent: its result may arrive before the confirm does.
          if (!this.#tally.published.has(m.id)) this.#tally.publish(m.id, m.kind);
          link.publisher.sendToQueue(this.#queues.input, Buffer.from(m.body), {
            persistent: true,
            messageId: m.id,
            correlationId: m.id,
            timestamp: Math.floor(Date.now() / 1000),
          });
        }
        await link.publisher.waitForConfirms();
        return;
      } catch (error) {
        if (signal.aborted) throw error;
        this.republished += batch.length;
        await abortable(link.closed, signal);
      }
    }
  }

  /** Ready messages in each queue (not counting those delivered and unacked). */
  async depths(signal: AbortSignal): Promise<Record<keyof QueueNames, number>> {
    const link = await this.#connected(signal);
    const channel = await link.connection.createChannel();
    try {
      const depth = async (queue: string): Promise<number> =>
        (await channel.checkQueue(queue)).messageCount;
      return {
        input: await depth(this.#queues.input),
        results: await depth(this.#queues.results),
        failed: await depth(this.#queues.failed),
      };
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Closes the connection and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    this.#closing = true;
    this.resume();
    const link = this.#link ?? (await this.#connecting?.catch(() => undefined));
    await link?.connection.close().catch(() => undefined);
  }

  #connected(signal: AbortSignal): Promise<Link> {
    if (this.#link !== undefined) return Promise.resolve(this.#link);
    this.#connecting ??= this.#connect(signal).finally(() => (this.#connecting = undefined));
    return abortable(this.#connecting, signal);
  }

  async #connect(signal: AbortSignal): Promise<Link> {
    for (;;) {
      if (this.#closing) throw new Error('chaos observer closed');
      try {
        const link = await this.#open();
        if (this.#everConnected) this.reconnects++;
        this.#everConnected = true;
        this.#link = link;
        return link;
      } catch {
        await delay(250, undefined, { signal });
      }
    }
  }

  async #open(): Promise<Link> {
    const connection = await amqp.connect(this.#url, { timeout: 2000 });
    let onClosed = (): void => undefined;
    const closed = new Promise<void>((resolve) => (onClosed = resolve));
    connection.on('error', () => undefined);
    connection.on('close', () => {
      this.#link = undefined;
      onClosed();
      // Consumers come back by themselves, whether or not anything is being published.
      const signal = this.#signal;
      if (!this.#closing && signal !== undefined && !signal.aborted) {
        this.#connected(signal).catch(() => undefined);
      }
    });
    try {
      const publisher = await connection.createConfirmChannel();
      publisher.on('error', () => undefined);
      const consumer = await connection.createChannel();
      consumer.on('error', () => undefined);
      await consumer.prefetch(500);
      // As the service declares them (the input a quorum queue with the default delivery
      // limit), so either side may come first.
      await consumer.assertQueue(this.#queues.input, {
        durable: true,
        arguments: quorumInput(5, this.#queues.failed),
      });
      for (const queue of [this.#queues.results, this.#queues.failed]) {
        await consumer.assertQueue(queue, { durable: true });
      }
      await consumer.consume(this.#queues.results, (message) => {
        if (message === null) return;
        const id = message.properties.messageId as string | undefined;
        const body = message.content.toString();
        this.#tally.result(id, body, message.fields.redelivered, Date.now());
        consumer.ack(message);
      });
      await consumer.consume(this.#queues.failed, (message) => {
        if (message === null) return;
        this.#tally.failure(message.properties.messageId as string | undefined);
        consumer.ack(message);
      });
      return { connection, publisher, closed };
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }
}

/** `promise`, or a rejection with the signal's reason when it aborts first. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
