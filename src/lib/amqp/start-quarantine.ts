import { handleError } from '../primitives/exception-scope.js';
import { sleep } from '../primitives/waits.js';
import type { AmqpChannel } from './amqp-client.js';
import type { AmqpNames } from './amqp-config.js';
import { QueueConsumer, drainStep, type MessageHandler } from './consumer.js';
import type { Publisher } from './publisher.js';
import { QuarantineGate } from './quarantine.js';
import type { AmqpHost } from './amqp-host.js';

/**
 * Wires the quarantine consumer (see quarantine.ts): prefetch 1 on a channel of its own, the
 * run-alone gate around the main consumer, and its shutdown steps. It starts consuming
 * `delayMs` after the service is up, so that a suspect that kills the process does so after
 * supervisord's `startsecs`: a crash there is an exit of a running service (restarted at once,
 * counted by the broker), never taken for a failed start (which supervisord gives up on).
 */
export function startQuarantine(options: {
  host: AmqpHost;
  main: QueueConsumer;
  channel: AmqpChannel;
  queue: string;
  delayMs: number;
  consumer: {
    publisher: Publisher;
    names: AmqpNames;
    handler: MessageHandler;
    mayHandBack: () => boolean;
  };
}): QueueConsumer {
  const { host, main, channel, queue } = options;
  const { coordinator, log } = host;
  const consumer = new QueueConsumer({
    ...options.consumer,
    channel,
    queue,
    maxMessageBytes: host.config.amqp.maxMessageBytes,
    messageTimeoutMs: host.config.amqp.messageTimeoutMs,
    log,
    metrics: host.metrics,
    control: host,
    gate: new QuarantineGate({ main }),
  });
  coordinator.addStep({
    name: 'cancel quarantine consumer',
    phase: 'stop-intake',
    run: () => consumer.cancel(),
  });
  coordinator.addStep(drainStep('drain quarantine', consumer, host.config.shutdown.stepTimeoutMs));
  const start = async (): Promise<void> => {
    if (!(await sleep(options.delayMs, host.signal))) return;
    try {
      await consumer.start();
    } catch (error) {
      handleError(error, { name: 'amqp quarantine', log, control: host });
    }
  };
  void start();
  return consumer;
}
