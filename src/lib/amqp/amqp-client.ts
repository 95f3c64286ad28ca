import type * as amqp from 'amqplib';
import { DependencyError } from '../primitives/errors.js';
import type { Logger } from '../primitives/log.js';
import { raceAbort, timedOut, withTimeout } from '../primitives/waits.js';
import { AmqpChannel } from './amqp-channel.js';
import {
  brokerFailure,
  dependencyName,
  errorMessage,
  fromAmqplib,
  type BrokerError,
} from './amqp-errors.js';
import { BlockedConnection } from './connection-blocked.js';
import { installDecoderGuard } from './decoder-guard.js';
import { coalesceWrites } from './write-coalescing.js';

/**
 * The only amqplib import (a dynamic one, at connect): one connection and its channels
 * (amqp-channel.ts), behind our own small types.
 * Everything the broker does to us at run time (connection closed, heartbeat missed, channel
 * closed) is turned into one error passed to `onLost`, once, classified here: a
 * DependencyError (the service dies with the dependency-failure code and its supervisor
 * restarts it), or an AmqpProtocolError when the broker closed it because of a frame of ours
 * (a bug: reported, exit 70). No reconnect loop:
 * a fresh process is the recovery. Every amqplib emitter gets an 'error' listener, so an
 * unhandled 'error' event cannot crash the process.
 */

export {
  AmqpChannel,
  type AmqpMessage,
  type MessageProperties,
  type QueueInfo,
  type QueueOptions,
} from './amqp-channel.js';
export {
  AmqpChannelClosedError,
  AmqpProtocolError,
  dependencyName,
  type BrokerError,
} from './amqp-errors.js';

export interface AmqpClientOptions {
  url: string;
  /** Shown by the broker (rabbitmqctl list_connections, the management UI). */
  connectionName: string;
  heartbeatS: number;
  connectTimeoutMs: number;
  log: Logger;
  /**
   * How long a publish may wait on a connection the broker has blocked (resource alarm);
   * default 30,000 ms.
   */
  blockedTimeoutMs?: number;
  /**
   * Called once, with the first sign of the connection or a channel going away: a
   * DependencyError or AmqpChannelClosedError, or an AmqpProtocolError when the broker closed
   * it because of our frame.
   */
  onLost: (error: BrokerError) => void;
}

/**
 * The URL with the heartbeat set (unless the URL sets it) and the credentials hidden, and the
 * user name and password percent-decoded as UTF-8 (undefined without either: amqplib's
 * guest/guest). amqplib decodes a URL's with `unescape()`, which reads `%C3%BC` as two Latin-1
 * letters: a password with a non-ASCII letter could never log in.
 */
function connectionTarget(
  url: string,
  heartbeatS: number,
): { url: string; shown: string; user: string | undefined; password: string } {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) {
    parsed.searchParams.set('heartbeat', String(heartbeatS));
  }
  const shown = new URL(parsed);
  if (shown.password !== '') shown.password = '***';
  const anyCredential = parsed.username !== '' || parsed.password !== '';
  return {
    url: parsed.toString(),
    shown: shown.toString(),
    user: anyCredential ? decodeURIComponent(parsed.username) : undefined,
    password: decodeURIComponent(parsed.password),
  };
}

export class AmqpClient {
  readonly #options: AmqpClientOptions;
  readonly #log: Logger;
  #model: amqp.ChannelModel | undefined;
  readonly #channels = new Set<AmqpChannel>();
  #closing: Promise<void> | undefined;
  #lost: BrokerError | undefined;
  readonly #blocked: BlockedConnection;

  constructor(options: AmqpClientOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'amqp' });
    this.#blocked = new BlockedConnection({
      timeoutMs: options.blockedTimeoutMs ?? 30_000,
      log: this.#log,
    });
  }

  /** Whether the broker has blocked the connection (resource alarm), for readiness. */
  get blocked(): BlockedConnection {
    return this.#blocked;
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
    const target = connectionTarget(this.#options.url, this.#options.heartbeatS);
    const { url, shown } = target;
    // An already-aborted signal never fires 'abort': refuse now rather than connect in shutdown.
    if (signal.aborted) {
      throw new DependencyError(dependencyName, `not connecting to ${shown}: shutting down`, {
        cause: signal.reason,
      });
    }
    const timeoutMs = this.#options.connectTimeoutMs;
    // Passed to the socket (amqplib hands its options to net.connect): once we give up, the
    // socket is destroyed at once instead of finishing a handshake that holds the process.
    const giveUp = new AbortController();
    // Loaded at the first connect, not with this module: a service without a broker never
    // loads amqplib (18 modules, ~19 ms of its start-up; docs/performance.md).
    if (!installDecoderGuard()) {
      this.#log.warn(
        'amqplib was loaded before the AMQP client: a message whose headers nest thousands of tables deep will close the connection (decoder-guard.ts)',
      );
    }
    const { connect, credentials } = await import('amqplib');
    const socketOptions = {
      timeout: timeoutMs,
      clientProperties: { connection_name: this.#options.connectionName },
      signal: giveUp.signal,
      ...(target.user === undefined
        ? {}
        : { credentials: credentials.plain(target.user, target.password) }),
    };
    const attempt = connect(url, socketOptions);
    let model: amqp.ChannelModel;
    try {
      // The timeout outside: an abort settles the outer race too, and clears its timer.
      const opened = await withTimeout(raceAbort(attempt, signal), timeoutMs);
      if (opened === timedOut) throw new Error(`no connection within ${timeoutMs} ms`);
      model = opened;
    } catch (error) {
      giveUp.abort();
      // A connection that opens after we gave up is closed at once.
      attempt
        .then(
          (late) => late.close(),
          () => undefined,
        )
        .catch(() => undefined);
      throw new DependencyError(
        dependencyName,
        `cannot connect to ${shown}: ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
    this.#model = model;
    if (!coalesceWrites(model.connection)) {
      this.#log.warn('amqplib internals changed: frames are written one socket write each');
    }
    model.on('error', (error: unknown) => this.#fail('connection error', error));
    model.on('close', (error?: unknown) => this.#fail('connection closed', error));
    model.on('blocked', (reason: string) => this.#blocked.block(reason));
    model.on('unblocked', () => this.#blocked.unblock());
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
      const channel = new AmqpChannel(
        name,
        raw,
        options.confirm === true,
        (message, error) => setImmediate(() => this.#fail(`channel ${name} ${message}`, error)),
        this.#blocked,
      );
      this.#channels.add(channel);
      return channel;
    } catch (error) {
      throw brokerFailure(`cannot open channel ${name}`, error);
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
    const model = this.#model;
    if (model !== undefined && this.#blocked.isBlocked) {
      // A blocked connection is not read by the broker: no close handshake would finish.
      // Dropping the socket ends it; the broker hands our unacked messages back. With an
      // error: amqplib ends its connection (and its heartbeat timers) on the socket's 'error'
      // or 'end', never on a bare 'close', and those timers held the process after `shutdown
      // complete` for up to two heartbeats (past the deadline with AMQP_HEARTBEAT_S=30: 124).
      const { stream } = model.connection as unknown as {
        stream?: { destroy?: (error?: Error) => void };
      };
      stream?.destroy?.(new Error('dropped: the broker blocks the connection'));
      this.#log.warn('amqp connection dropped without the close handshake (broker blocks it)');
      return;
    }
    for (const channel of this.#channels) await channel.close();
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
    this.#lost =
      cause === undefined
        ? new DependencyError(dependencyName, message)
        : fromAmqplib(message, cause);
    this.#options.onLost(this.#lost);
  }
}
