import { isUtf8 } from 'node:buffer';
import {
  PermanentError,
  type Delivery,
  type MessageHandler,
  type Publisher,
} from '../lib/index.js';
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
    await pipeline.handle(bodyText(message), { messageId, attempt }, (result) =>
      publisher.publishJsonText(resultsQueue, result.json, {
        messageId: messageId ?? result.eventId,
        correlationId,
        type: 'sample.result',
      }),
    );
  };
}

/** `contentEncoding`s that say the body is as it is (some producers put the charset there). */
const plainEncodings = new Set(['', 'identity', 'utf-8', 'utf8']);

/**
 * The body as text, or a PermanentError (the failed queue, with the reason): a body whose
 * bytes are not UTF-8 was read with U+FFFD in their place, and its result published for data
 * the producer never sent; a compressed or otherwise encoded body failed as 'not valid JSON',
 * and one whose encoding was unknown went through as it was.
 */
function bodyText(message: Delivery['message']): string {
  const encoding = message.properties.contentEncoding;
  if (encoding !== undefined && !plainEncodings.has(encoding.toLowerCase())) {
    throw new PermanentError(
      `message body has content-encoding ${JSON.stringify(encoding.slice(0, 64))}, which the sample does not decode`,
    );
  }
  if (!isUtf8(message.body)) throw new PermanentError('message body is not valid UTF-8');
  return message.body.toString('utf8');
}
