import * as amqp from 'amqplib';
import { DependencyError } from '../errors.js';
import type { Logger } from '../log.js';
import { AmqpChannel, dependencyName, describe, wrap } from './amqp-channel.js';
import { coalesceWrites } from './write-coalescing.js';

/**
 * The only amqplib import: one connection and its channels (amqp-channel.ts), behind our
 * own small types.
 * Everything the broker does to us at run time (connection closed, heartbeat missed, channel
 * closed) is turned into one DependencyError passed to `onLost`, once; the service then
 * dies with the dependency-failure code and its supervisor restarts it. No reconnect loop:
 * a fresh process is the recovery. Every amqplib emitter gets an 'error' listener, so an
 * unhandled 'error' event cannot crash the process.
 */

export {
  AmqpChannel,
  dependencyName,
  type AmqpMessage,
  type MessageProperties,
  type QueueInfo,
  type QueueOptions,
} from './amqp-channel.js';

export interface AmqpClientOptions {
  url: string;
  /** Shown by the broker (rabbitmqctl list_connections, the management UI). */
  connectionName: string;
  heartbeatS: number;
  connectTimeoutMs: number;
  log: Logger;
  /** Called once, with the first sign of the connection or a channel going away. */
  onLost: (error: DependencyError) => void;
}

/** The URL with the heartbeat set (unless the URL sets it) and the credentials hidden. */
function withHeartbeat(url: string, heartbeatS: number): { url: string; shown: string } {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) {
    parsed.searchParams.set('heartbeat', String(heartbeatS));
  }
  const shown = new URL(parsed);
  if (shown.password !== '') shown.password = '***';
  return { url: parsed.toString(), shown: shown.toString() };
}

export class AmqpClient {
  readonly #options: AmqpClientOptions;
  readonly #log: Logger;
  #model: amqp.ChannelModel | undefined;
  readonly #channels = new Set<AmqpChannel>();
  #closing: Promise<void> | undefined;
  #lost: DependencyError | undefined;

  constructor(options: AmqpClientOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'amqp' });
  }

  get isConnected(): boolean {
    return this.#model !== undefined && this.#lost === undefined && this.#closing === undefined;
  }

  /** True once `close()` was called: closes from now on are ours, not a failure. */
  get isClosing(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Opens the connection. Resolves when it is open; rejects with a DependencyError when the
   * broker is unreachable, refuses the credentials or the vhost, or does not answer within
   * the connect timeout, or when `signal` aborts. Call once.
   */
  async connect(signal: AbortSignal): Promise<void> {
    if (this.#model !== undefined) throw new Error('AmqpClient.connect() called twice');
    const { url, shown } = withHeartbeat(this.#options.url, this.#options.heartbeatS);
    const timeoutMs = this.#options.connectTimeoutMs;
    const attempt = amqp.connect(url, {
      timeout: timeoutMs,
      clientProperties: { connection_name: this.#options.connectionName },
    });
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    let model: amqp.ChannelModel;
    try {
      model = await new Promise<amqp.ChannelModel>((resolve, reject) => {
        const onAbort = (): void =>
          reject(
            signal.aborted
              ? (signal.reason as Error)
              : new Error(`no connection within ${timeoutMs} ms`),
          );
        deadline.addEventListener('abort', onAbort, { once: true });
        attempt.then(resolve, reject).finally(() => {
          deadline.removeEventListener('abort', onAbort);
        });
      });
    } catch (error) {
      // A connection that opens after we gave up is closed at once.
      attempt
        .then(
          (late) => late.close(),
          () => undefined,
        )
        .catch(() => undefined);
      throw new DependencyError(dependencyName, `cannot connect to ${shown}: ${describe(error)}`, {
        cause: error,
      });
    }
    this.#model = model;
    if (!coalesceWrites(model.connection)) {
      this.#log.warn('amqplib internals changed: frames are written one socket write each');
    }
    model.on('error', (error: unknown) =>
      this.#fail(`connection error: ${describe(error)}`, error),
    );
    model.on('close', (error?: unknown) =>
      this.#fail(
        error === undefined ? 'connection closed' : `connection closed: ${describe(error)}`,
        error,
      ),
    );
    model.on('blocked', (reason: string) =>
      this.#log.warn({ reason }, 'broker blocked the connection (resource alarm)'),
    );
    model.on('unblocked', () => this.#log.info('broker unblocked the connection'));
    this.#log.info({ url: shown, heartbeatS: this.#options.heartbeatS }, 'amqp connected');
  }

  /**
   * Opens a channel: a confirm channel when `confirm` (publishes resolve on the broker's
   * ack), with `prefetch` when given. Rejects with a DependencyError when the broker refuses.
   */
  async openChannel(
    name: string,
    options: { confirm?: boolean; prefetch?: number } = {},
  ): Promise<AmqpChannel> {
    const model = this.#model;
    if (model === undefined || !this.isConnected) {
      throw new DependencyError(dependencyName, `cannot open channel ${name}: not connected`);
    }
    try {
      const raw =
        options.confirm === true ? await model.createConfirmChannel() : await model.createChannel();
      if (options.prefetch !== undefined) await raw.prefetch(options.prefetch);
      // A closing connection closes its channels first: report on the next turn, so that the
      // connection's own reason (sent right after) is the one reported.
      const channel = new AmqpChannel(name, raw, options.confirm === true, (message, error) =>
        setImmediate(() => this.#fail(`channel ${name} ${message}`, error)),
      );
      this.#channels.add(channel);
      return channel;
    } catch (error) {
      throw wrap(`cannot open channel ${name}`, error);
    }
  }

  /** Closes every channel, then the connection. Memoised; never rejects. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Open channels and their state, for the escalation listing. */
  describeOpen(): Array<{ name: string; closed: boolean }> {
    return [...this.#channels].map((c) => ({ name: c.name, closed: c.isClosed }));
  }

  async #close(): Promise<void> {
    for (const channel of this.#channels) await channel.close();
    const model = this.#model;
    // Closed even after a loss: a channel lost (a refused declaration, say) leaves the
    // connection open, and an open connection keeps the process alive.
    if (model === undefined) return;
    try {
      await model.close();
      this.#log.info('amqp connection closed');
    } catch (error) {
      this.#log.debug({ err: error }, 'amqp connection close failed');
    }
  }

  #fail(message: string, cause: unknown): void {
    if (this.#closing !== undefined || this.#lost !== undefined) {
      this.#log.debug({ err: cause, reason: message }, 'amqp closed');
      return;
    }
    this.#lost = new DependencyError(dependencyName, message, { cause });
    this.#options.onLost(this.#lost);
  }
}
