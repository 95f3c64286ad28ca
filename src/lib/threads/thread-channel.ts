import type { MessagePort } from 'node:worker_threads';
import { currentCorrelationId, withCorrelationId } from '../correlation.js';
import {
  ErrorCodes,
  WorkerBaseError,
  deserializeError,
  serializeError,
  type SerializedError,
} from '../errors.js';

/**
 * A typed request/response channel over a MessagePort, between the main thread and a worker
 * or between two workers. Requests carry the current correlation id, and the handler runs
 * under it on the other side. Errors cross as `{ name, code, message, stack, retryable }` and
 * are rebuilt, so `classify()` answers the same on both sides.
 */

/** What one side of a channel sends and gets back. */
export interface ChannelContract {
  request: unknown;
  response: unknown;
}

type Wire =
  | { k: 'req'; id: number; body: unknown; cid?: string }
  | { k: 'note'; body: unknown; cid?: string }
  | { k: 'res'; id: number; body: unknown }
  | { k: 'err'; id: number; error: SerializedError }
  /** Closing handshake: every message sent before the 'fin-ack' arrives before it (FIFO). */
  | { k: 'fin' }
  | { k: 'fin-ack' };

/** The port-like object a channel runs on (a MessagePort, or a worker's parentPort). */
export type ChannelPort = Pick<MessagePort, 'postMessage' | 'on' | 'off' | 'close' | 'unref'>;

export type RequestHandler<In extends ChannelContract> = (
  body: In['request'],
) => Promise<In['response']> | In['response'];

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  cleanup: () => void;
}

export class ThreadChannel<
  Out extends ChannelContract = ChannelContract,
  In extends ChannelContract = ChannelContract,
> {
  readonly name: string;
  readonly #port: ChannelPort;
  readonly #pending = new Map<number, Pending>();
  readonly #active = new Set<Promise<unknown>>();
  #handler: RequestHandler<In> | undefined;
  #nextId = 1;
  #closed = false;
  /** Set once the other side asked to close: no new requests go out. */
  #closing = false;
  #finAcked: (() => void) | undefined;

  constructor(name: string, port: ChannelPort) {
    this.name = name;
    this.#port = port;
    port.on('message', this.#onMessage);
    port.on('close', this.#onClose);
  }

  /** The same channel, seen through the contracts of one protocol (the wire is untyped). */
  as<O extends ChannelContract, I extends ChannelContract = ChannelContract>(): ThreadChannel<
    O,
    I
  > {
    return this as unknown as ThreadChannel<O, I>;
  }

  /** Requests sent and not yet answered. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Requests received and being handled. */
  get active(): number {
    return this.#active.size;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Sends a request; resolves with the answer, rejects with the rebuilt remote error, with a
   * THREAD_CHANNEL_CLOSED error if the channel closes first, or with the signal's reason.
   */
  request(body: Out['request'], signal?: AbortSignal): Promise<Out['response']> {
    if (this.#closed || this.#closing) return Promise.reject(this.#closedError());
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    const id = this.#nextId++;
    return new Promise<Out['response']>((resolve, reject) => {
      const onAbort = (): void => {
        this.#pending.delete(id);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      });
      this.#post({ k: 'req', id, body, cid: currentCorrelationId() });
    });
  }

  /** Sends a one-way message; the other side's handler runs, and its answer is dropped. */
  notify(body: Out['request']): void {
    if (!this.#closed) this.#post({ k: 'note', body, cid: currentCorrelationId() });
  }

  /** Sets the handler of incoming requests and notes. One per channel. */
  serve(handler: RequestHandler<In>): void {
    this.#handler = handler;
  }

  /** Resolves when every request being handled now has been answered. */
  async drain(): Promise<void> {
    while (this.#active.size > 0) await Promise.allSettled([...this.#active]);
  }

  /**
   * Closes without losing work: asks the other side to stop sending, waits until every
   * request it sent before that has arrived (its 'fin-ack' comes after them on the same
   * port), waits for their answers to be sent, then closes. Bounded by `timeoutMs`.
   */
  async closeGracefully(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#finAcked = resolve;
      timer = setTimeout(resolve, timeoutMs);
      this.#post({ k: 'fin' });
    });
    clearTimeout(timer);
    await this.drain();
    this.close();
  }

  /** Closes the port; pending requests reject. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#port.close();
    this.#onClose();
  }

  #post(message: Wire): void {
    if (message.k === 'req' || message.k === 'note') {
      if (message.cid === undefined) delete message.cid;
    }
    this.#port.postMessage(message);
  }

  #closedError(): Error {
    return new WorkerBaseError(
      ErrorCodes.THREAD_CHANNEL_CLOSED,
      `thread channel ${this.name} is closed`,
      { retryable: true },
    );
  }

  readonly #onMessage = (message: Wire): void => {
    switch (message.k) {
      case 'res':
      case 'err': {
        const pending = this.#pending.get(message.id);
        if (pending === undefined) return;
        this.#pending.delete(message.id);
        pending.cleanup();
        if (message.k === 'res') pending.resolve(message.body);
        else pending.reject(deserializeError(message.error));
        return;
      }
      case 'req':
      case 'note':
        this.#handle(message);
        return;
      case 'fin':
        this.#closing = true;
        this.#post({ k: 'fin-ack' });
        return;
      case 'fin-ack':
        this.#finAcked?.();
        return;
    }
  };

  #handle(message: Extract<Wire, { k: 'req' | 'note' }>): void {
    const handler = this.#handler;
    const run = withCorrelationId(message.cid, async () => {
      if (handler === undefined) throw new Error(`no handler on thread channel ${this.name}`);
      return handler(message.body);
    });
    const task = run.then(
      (body) => {
        if (message.k === 'req' && !this.#closed) this.#post({ k: 'res', id: message.id, body });
      },
      (error: unknown) => {
        if (message.k === 'req' && !this.#closed) {
          this.#post({ k: 'err', id: message.id, error: serializeError(error) });
        }
      },
    );
    this.#active.add(task);
    void task.finally(() => this.#active.delete(task));
  }

  readonly #onClose = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#finAcked?.();
    this.#port.off('message', this.#onMessage);
    this.#port.off('close', this.#onClose);
    for (const pending of this.#pending.values()) {
      pending.cleanup();
      pending.reject(this.#closedError());
    }
    this.#pending.clear();
  };
}
