import { type MessageHandler, type Publisher } from '../lib/index.js';
import type { SamplePipeline } from './pipeline.js';

/**
 * The sample's broker handler: runs the message body through the pipeline (the processor
 * thread parses it, poison -> PermanentError; then ZeroMQ), and publishes the JSON result to
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
    const { messageId } = message.properties;
    await pipeline.handle(message.body.toString('utf8'), { messageId, attempt }, (result) =>
      publisher.publishJsonText(resultsQueue, result.json, {
        messageId: messageId ?? result.eventId,
        correlationId,
        type: 'sample.result',
      }),
    );
  };
}
