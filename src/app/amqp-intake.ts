import type { MessageHandler } from '../lib/amqp/consumer.js';
import { Headers } from '../lib/amqp/disposition.js';
import type { Publisher } from '../lib/amqp/publisher.js';
import { parseEvent } from './events.js';
import type { SamplePipeline } from './pipeline.js';

/**
 * The sample's broker handler: reads the message as an event (poison -> PermanentError),
 * runs it through the pipeline (processor thread, ZeroMQ), and publishes the JSON result to
 * the results queue, confirmed, carrying the input's message id and correlation id. The
 * consumer acks once this resolves.
 */
export function sampleMessageHandler(options: {
  pipeline: SamplePipeline;
  publisher: Publisher;
  resultsQueue: string;
}): MessageHandler {
  const { pipeline, publisher, resultsQueue } = options;
  return async ({ message, correlationId, attempt }) => {
    const event = parseEvent(message.body, message.properties.messageId);
    const result = await pipeline.handle(event, attempt);
    await publisher.publishJson(resultsQueue, result, {
      messageId: message.properties.messageId ?? event.id,
      correlationId,
      type: 'sample.result',
      headers: { [Headers.correlationId]: correlationId },
    });
  };
}
