import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lagOf } from '../../../src/lib/amqp/consumer.js';

/**
 * The consumer's lag (`queue stats`, `amqp_consumer_lag_seconds`) comes from one message's
 * producer `timestamp`: one message with `timestamp: 1` made it 57 years until the next.
 */

const nowS = (): number => Math.floor(Date.now() / 1000);

test("a first delivery's lag is from its timestamp to now", () => {
  const lag = lagOf(nowS() - 30, 1);
  assert.ok(lag !== undefined && lag >= 29_000 && lag < 32_000, String(lag));
  assert.equal(lagOf(nowS() + 10, 1), 0, 'a clock a little behind the producer: 0');
});

test('no lag from a timestamp no producer sent at: before 2000, in milliseconds, far ahead', () => {
  for (const timestamp of [1, 0, -5, 946_684_799, Date.now(), nowS() + 3600, Number.NaN]) {
    assert.equal(lagOf(timestamp, 1), undefined, String(timestamp));
  }
  assert.equal(lagOf(undefined, 1), undefined);
});

test("no lag from a retry: its timestamp is the original's, and the lag would be its delays", () => {
  assert.equal(lagOf(nowS() - 30, 2), undefined);
});
