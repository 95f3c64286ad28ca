import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AmqpProtocolError, fromAmqplib } from '../../../src/lib/amqp/amqp-errors.js';
import { classify } from '../../../src/lib/primitives/classify.js';

test("the broker's consumer timeout is said for what it is: a handler that held a message, not a frame of ours", () => {
  // RabbitMQ closes the channel with this 406 when a delivery stays unacked past its
  // consumer_timeout; it read as "the broker closed the channel because of a frame we sent".
  const closed = Object.assign(
    new Error(
      'Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 1800000 ms. This timeout value can be configured, see consumers doc guide to learn more"',
    ),
    { code: 406 },
  );
  const error = fromAmqplib('consume', closed);
  assert.ok(error instanceof AmqpProtocolError);
  assert.equal(classify(error), 'unexpected', 'a bug of ours still: 70, as a stuck message');
  assert.match(error.message, /held a message unacked past the broker's consumer_timeout/);
  assert.match(error.message, /AMQP_MESSAGE_TIMEOUT_MS/);
  // Another 406 of ours (a double ack) keeps its own text.
  const doubleAck = Object.assign(
    new Error(
      'Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - unknown delivery tag 7"',
    ),
    { code: 406 },
  );
  assert.doesNotMatch(fromAmqplib('ack', doubleAck).message, /consumer_timeout/);
});
