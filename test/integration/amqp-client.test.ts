import { after, before, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import type { AmqpClient, AmqpMessage } from '../../src/lib/amqp/amqp-client.js';
import { coalesceWrites } from '../../src/lib/amqp/write-coalescing.js';
import { connectedClient } from '../helpers/amqp-client.js';
import { createVhost, type TestVhost } from '../helpers/broker.js';

/**
 * The AMQP client against the real RabbitMQ. Its socket writes: the frames amqplib queues in
 * one turn leave in a few writev calls, not one write each, and a burst far over the socket's
 * buffer still arrives whole (backpressure through 'drain' works with the socket corked). And
 * a channel's acks once its closing began.
 */

let vhost: TestVhost;

before(async () => {
  vhost = await createVhost('amqp-client');
});

after(async () => {
  await vhost.remove();
});

async function connected(): Promise<{ client: AmqpClient; lost: unknown[] }> {
  const lost: unknown[] = [];
  const client = await connectedClient(vhost.url, 'amqp-client test', {
    onLost: (error) => lost.push(error),
  });
  return { client, lost };
}

/** Counts the socket writes to the broker's port while `run` runs. */
async function countingBrokerWrites<T>(
  run: () => Promise<T>,
): Promise<{ result: T; writes: number; writevs: number }> {
  const toBroker = (socket: Socket): boolean => socket.remotePort === 5672;
  // The Writable implementation methods of net.Socket; _writev is optional in the types.
  const proto = Socket.prototype as unknown as Record<'_write' | '_writev', () => void>;
  const write = mock.method(proto, '_write');
  const writev = mock.method(proto, '_writev');
  try {
    const result = await run();
    return {
      result,
      writes: write.mock.calls.filter((c) => toBroker(c.this as Socket)).length,
      writevs: writev.mock.calls.filter((c) => toBroker(c.this as Socket)).length,
    };
  } finally {
    write.mock.restore();
    writev.mock.restore();
  }
}

describe('AmqpClient socket writes', () => {
  test('500 publishes made in one turn leave in a few writev calls, and all are confirmed', async () => {
    const { client, lost } = await connected();
    try {
      const channel = await client.openChannel('publish', { confirm: true });
      await channel.assertQueue('coalesce.small');
      const { writes, writevs } = await countingBrokerWrites(() =>
        Promise.all(
          Array.from({ length: 500 }, (_, i) =>
            channel.publish('', 'coalesce.small', Buffer.from(JSON.stringify({ i }))),
          ),
        ),
      );
      assert.ok(
        writevs >= 1,
        `frames went out in writev calls (writev ${writevs}, write ${writes})`,
      );
      assert.ok(
        writes + writevs <= 50,
        `500 publishes took ${writes} writes and ${writevs} writevs; one write each means no coalescing`,
      );
      assert.equal((await channel.checkQueue('coalesce.small')).messageCount, 500);
      assert.deepEqual(lost, []);
    } finally {
      await client.close();
    }
  });

  test('a burst of 32 MiB in one turn (far over the socket buffer) is confirmed whole', async () => {
    const { client, lost } = await connected();
    try {
      const channel = await client.openChannel('publish', { confirm: true });
      await channel.assertQueue('coalesce.large');
      const body = Buffer.alloc(16 * 1024, 'x');
      await Promise.all(
        Array.from({ length: 2_048 }, () => channel.publish('', 'coalesce.large', body)),
      );
      assert.equal((await channel.checkQueue('coalesce.large')).messageCount, 2_048);
      assert.deepEqual(lost, []);
    } finally {
      await client.close();
    }
  });

  test('coalesceWrites leaves an object without amqplib internals alone and says so', () => {
    assert.equal(coalesceWrites({}), false);
    assert.equal(coalesceWrites(undefined), false);
    assert.equal(coalesceWrites({ muxer: { _readIncoming: () => undefined } }), false);
  });
});

describe('AmqpChannel while it closes', () => {
  test('an ack or nack after close() began is dropped, not thrown (the broker gets the message back)', async () => {
    // amqplib throws 'Channel closing' from the moment close() is called, not from the close:
    // an ack then (a hand-back's original, confirmed late) threw out of the consumer.
    const { client } = await connected();
    try {
      const channel = await client.openChannel('input', { prefetch: 2 });
      const queue = 'ack-while-closing';
      await channel.assertQueue(queue);
      const publishing = await client.openChannel('publish', { confirm: true });
      await publishing.publish('', queue, Buffer.from('a'), {});
      await publishing.publish('', queue, Buffer.from('b'), {});
      const received: AmqpMessage[] = [];
      const both = Promise.withResolvers<void>();
      await channel.consume(queue, (message) => {
        if (message !== null) received.push(message);
        if (received.length === 2) both.resolve();
      });
      await both.promise;
      const closing = channel.close();
      const [first, second] = received as [AmqpMessage, AmqpMessage];
      assert.doesNotThrow(() => channel.ack(first));
      assert.doesNotThrow(() => channel.nack(second, true));
      await closing;
      const back = await publishing.checkQueue(queue);
      assert.equal(back.messageCount, 2, 'neither was settled: both are back in the queue');
    } finally {
      await client.close();
    }
  });
});
