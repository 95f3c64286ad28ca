import { classify } from '../primitives/classify.js';
import { handleError } from '../primitives/exception-scope.js';
import { DependencyError } from '../primitives/errors.js';
import { raceAbort, sleep, timedOut, withTimeout } from '../primitives/waits.js';
import { AmqpClient, dependencyName, type AmqpChannel } from './amqp-client.js';
import { amqpNames, type AmqpNames } from './amqp-config.js';
import { QueueConsumer, drainStep, type MessageHandler } from './consumer.js';
import { Publisher } from './publisher.js';
import { declareTopology } from './topology.js';
import { startQuarantine } from './start-quarantine.js';
import type { AmqpHost } from './amqp-host.js';

/**
 * Wires the AMQP pieces into a service: connects, declares the topology, opens a consume
 * channel (prefetch, manual acks) and a confirm channel for publishing, registers the
 * shutdown steps (cancel the consumer in 'stop-intake', wait for in-flight messages in
 * 'drain', close channels and connection in 'close'), the readiness check and the open-
 * resource listing, then starts consuming and logs queue statistics periodically.
 */

/** Queue statistics for scaling decisions. */
export interface QueueStats {
  queue: string;
  /** Messages ready in the queue (not yet delivered). */
  depth: number;
  consumers: number;
  /** Delivered to this process and not yet settled. */
  inFlight: number;
  /** Messages settled per second since the previous statistics. */
  settledPerS: number;
  /** Producer timestamp to receipt of the latest message, ms (when producers set it). */
  lagMs: number | undefined;
  /** Seconds to empty the queue at the current rate (undefined when idle). */
  drainEstimateS: number | undefined;
}

export interface AmqpPipeline {
  names: AmqpNames;
  publisher: Publisher;
  consumer: QueueConsumer;
  /** Reads the input queue's depth from the broker and the consumer's own figures. */
  checkQueue(): Promise<QueueStats>;
}

export interface StartAmqpOptions {
  /** Makes the message handler, given the publisher and names (called before consuming). */
  createHandler: (amqp: { publisher: Publisher; names: AmqpNames }) => MessageHandler;
}

/**
 * Resolves once the consumer is consuming. Rejects with a DependencyError when the broker is
 * unreachable, refuses the credentials or a declaration; after that, a lost connection or
 * channel calls `host.die()` with a DependencyError.
 */
export async function startAmqp(host: AmqpHost, options: StartAmqpOptions): Promise<AmqpPipeline> {
  const { config, coordinator, log, health } = host;
  const settings = config.amqp;
  const names = amqpNames(config.app.name, settings);
  const client = new AmqpClient({
    url: settings.url,
    connectionName: `${config.app.name} pid ${process.pid}`,
    heartbeatS: settings.heartbeatS,
    connectTimeoutMs: settings.connectTimeoutMs,
    blockedTimeoutMs: settings.blockedTimeoutMs,
    log,
    // A dependency failure ends the process quietly (69); our own protocol error is a bug and
    // is reported (70).
    onLost: (error) =>
      classify(error) === 'dependency'
        ? host.die(error)
        : handleError(error, { name: 'amqp', log, control: host }),
  });
  coordinator.addStep({ name: 'close amqp', phase: 'close', run: () => client.close() });
  coordinator.addOpenResourceReporter('amqpChannels', () => client.describeOpen());
  await client.connect(host.signal);
  // Each start-up call the broker must answer, bounded as the connect is, and given up at a
  // stop: a broker (or a proxy before it) that took the connection and never answered a
  // declaration held start-up to STARTUP_TIMEOUT_MS, an application error (70) that named no
  // broker, and a TERM meanwhile waited a step timeout.
  const answered = <T>(what: string, call: Promise<T>): Promise<T> =>
    brokerAnswer(what, call, settings.connectTimeoutMs, host.signal);

  const publishChannel = await answered(
    'the publish channel',
    client.openChannel('publish', { confirm: true }),
  );
  await declareTopology(publishChannel, names, answered);
  const consumeChannel = await answered(
    'the consume channel',
    client.openChannel('consume', { prefetch: settings.prefetch }),
  );
  const publisher = new Publisher({
    channel: publishChannel,
    exchange: names.exchange,
    appId: config.app.name,
  });
  // Messages in hand go back as new publishes (sparing their delivery limit) unless the
  // service stops because something of ours crashed or hung.
  const mayHandBack = (): boolean => {
    const cause = coordinator.cause;
    return cause === undefined || classify(cause) === 'dependency';
  };
  const handler = options.createHandler({ publisher, names });
  const consumer = new QueueConsumer({
    channel: consumeChannel,
    publisher,
    names,
    maxMessageBytes: settings.maxMessageBytes,
    messageTimeoutMs: settings.messageTimeoutMs,
    log,
    metrics: host.metrics,
    control: host,
    handler,
    quarantine: names.quarantineQueue,
    mayHandBack,
  });
  coordinator.addStep({
    name: 'cancel amqp consumer',
    phase: 'stop-intake',
    run: () => {
      // It stops taking deliveries at once; the broker's answer is not awaited on a blocked
      // connection, which it does not read (the step spent its whole timeout): the close
      // drops the socket, which ends the consumer.
      const cancelling = consumer.cancel();
      return client.blocked.isBlocked ? undefined : cancelling;
    },
  });
  coordinator.addStep(drainStep('drain amqp messages', consumer, config.shutdown.stepTimeoutMs));
  health.addReadiness('amqp', () => ({
    ok: client.isConnected && (consumer.state === 'consuming' || consumer.state === 'paused'),
    detail: {
      connected: client.isConnected,
      consumer: consumer.state,
      inFlight: consumer.inFlight,
    },
  }));

  // A broker resource alarm: not ready while the broker blocks our publishes, with its reason.
  health.addReadiness('amqpBlocked', () => client.blocked.readiness());

  host.metrics.onScrape?.((m) =>
    m.gauge('amqp_queue_in_flight', consumer.inFlight, { queue: names.inputQueue }),
  );
  const checkQueue = queueChecker(publishChannel, names.inputQueue, consumer);
  await answered('the consume request', consumer.start());
  if (names.quarantineQueue !== undefined) {
    const quarantineChannel = await answered(
      'the quarantine channel',
      client.openChannel('quarantine', { prefetch: 1 }),
    );
    startQuarantine({
      host,
      main: consumer,
      channel: quarantineChannel,
      queue: names.quarantineQueue,
      delayMs: settings.quarantineDelayMs,
      consumer: { publisher, names, handler, mayHandBack },
    });
  }
  void reportQueueStats(host, checkQueue, settings.statsIntervalMs);
  return { names, publisher, consumer, checkQueue };
}

/**
 * `call`'s answer, or a DependencyError naming the broker once `timeoutMs` passed without one;
 * at a stop, a rejection whose cause is the stop's reason (the shutdown's noise, not a failure).
 */
async function brokerAnswer<T>(
  what: string,
  call: Promise<T>,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<T> {
  const answer = await withTimeout(raceAbort(call, signal), timeoutMs).catch((error: unknown) => {
    if (!signal.aborted) throw error;
    throw new DependencyError(dependencyName, `start-up given up at ${what}: shutting down`, {
      cause: error,
    });
  });
  if (answer === timedOut) {
    call.catch(() => undefined);
    throw new DependencyError(
      dependencyName,
      `no answer from the broker to ${what} within ${timeoutMs} ms (AMQP_CONNECT_TIMEOUT_MS)`,
    );
  }
  return answer;
}

function queueChecker(
  channel: AmqpChannel,
  queue: string,
  consumer: QueueConsumer,
): () => Promise<QueueStats> {
  let last = { at: performance.now(), settled: consumer.counts.settled };
  return async () => {
    const info = await channel.checkQueue(queue);
    const now = { at: performance.now(), settled: consumer.counts.settled };
    const seconds = (now.at - last.at) / 1000;
    const settledPerS = seconds > 0 ? (now.settled - last.settled) / seconds : 0;
    last = now;
    return {
      queue,
      depth: info.messageCount,
      consumers: info.consumerCount,
      inFlight: consumer.inFlight,
      settledPerS: Math.round(settledPerS * 10) / 10,
      lagMs: consumer.lagMs,
      drainEstimateS: settledPerS > 0 ? Math.ceil(info.messageCount / settledPerS) : undefined,
    };
  };
}

/** Logs and records the queue statistics every `intervalMs` until shutdown. */
async function reportQueueStats(
  host: AmqpHost,
  checkQueue: () => Promise<QueueStats>,
  intervalMs: number,
): Promise<void> {
  const log = host.log.child({ component: 'amqp' });
  while (await sleep(intervalMs, host.signal)) {
    let stats: QueueStats;
    try {
      stats = await checkQueue();
    } catch (error) {
      // A failed check means the channel is gone; the client has reported the loss.
      log.debug({ err: error }, 'queue statistics unavailable');
      return;
    }
    const tags = { queue: stats.queue };
    host.metrics.gauge('amqp_queue_depth', stats.depth, tags);
    host.metrics.gauge('amqp_queue_in_flight', stats.inFlight, tags);
    host.metrics.gauge('amqp_queue_consumers', stats.consumers, tags);
    if (stats.lagMs !== undefined)
      host.metrics.gauge('amqp_consumer_lag_seconds', stats.lagMs / 1000, tags);
    log.info(stats, 'queue stats');
  }
}
