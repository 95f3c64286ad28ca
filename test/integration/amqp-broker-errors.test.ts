import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import type { AmqpClient, AmqpMessage } from '../../src/lib/amqp/amqp-client.js';
import { ErrorCodes } from '../../src/lib/primitives/errors.js';
import { classify } from '../../src/lib/primitives/classify.js';
import { ExitCode, exitCodeFor } from '../../src/lib/primitives/exit-codes.js';
import { connectedClient } from '../helpers/amqp-client.js';
import {
  BrokerObserver,
  connectionOf,
  createVhost,
  rabbitmqctl,
  type TestVhost,
} from '../helpers/broker.js';

/**
 * Broker errors are classified where they enter the AMQP client, against the real RabbitMQ: a
 * channel the broker closes because of our own frame (a double ack: 406 "unknown delivery
 * tag") is an application error (exit 70, reported); a connection the broker closes on an
 * operator's word (320) or a missing queue (404) stays a dependency failure (exit 69).
 */

let vhost: TestVhost;
let observer: BrokerObserver;

before(async () => {
  vhost = await createVhost('amqp-broker-errors');
  observer = await BrokerObserver.open(vhost.url);
});

after(async () => {
  await observer.close();
  await vhost.remove();
});

async function connected(name: string): Promise<{ client: AmqpClient; lost: Promise<unknown> }> {
  const events = new EventEmitter();
  const lost = once(events, 'lost').then(([error]) => error as unknown);
  const client = await connectedClient(vhost.url, name, {
    onLost: (error) => events.emit('lost', error),
  });
  return { client, lost };
}

describe('AMQP broker errors', () => {
  test('a double ack closes the channel with 406, and that is an application error (exit 70)', async () => {
    const { client, lost } = await connected('broker-errors double-ack');
    try {
      const channel = await client.openChannel('consume', { prefetch: 10 });
      await channel.assertQueue('double-ack');
      await observer.publish('double-ack', ['once']);
      const delivered = new Promise<AmqpMessage>((resolve) => {
        void channel.consume('double-ack', (message) => {
          if (message !== null) resolve(message);
        });
      });
      const message = await delivered;
      channel.ack(message);
      channel.ack(message);
      const error = await lost;
      assert.match((error as Error).message, /unknown delivery tag/);
      assert.equal((error as { code?: unknown }).code, ErrorCodes.AMQP_PROTOCOL);
      assert.equal(classify(error), 'unexpected');
      assert.equal(exitCodeFor(error), ExitCode.APPLICATION_ERROR);
    } finally {
      await client.close();
    }
  });

  test('a publish the broker refuses (a user id not ours: 406) fails, and the next one, as an application error', async () => {
    const { client, lost } = await connected('broker-errors refused-publish');
    try {
      const channel = await client.openChannel('publish', { confirm: true });
      await channel.assertQueue('refused-publish');
      const refused = await channel
        .publish('', 'refused-publish', Buffer.from('x'), { userId: 'somebody-else' })
        .then(
          () => assert.fail('the broker confirmed a publish with a user id not ours'),
          (error: unknown) => error,
        );
      assert.match((refused as Error).message, /user_id/);
      assert.equal(classify(refused), 'unexpected');
      const next = await channel.publish('', 'refused-publish', Buffer.from('y')).then(
        () => assert.fail('a publish on the closed channel resolved'),
        (error: unknown) => error,
      );
      assert.equal(classify(next), 'unexpected', 'the channel is gone because of our frame');
      assert.equal(exitCodeFor(await lost), ExitCode.APPLICATION_ERROR);
    } finally {
      await client.close();
    }
  });

  test('a connection closed by the operator stays a dependency failure (exit 69)', async () => {
    const name = `broker-errors forced-close ${process.pid}`;
    const { client, lost } = await connected(name);
    try {
      await client.openChannel('consume');
      let id = '';
      // The broker lists a new connection a moment after it opens.
      for (let tries = 0; id === '' && tries < 50; tries++) {
        id = await connectionOf(name).catch(() => '');
        if (id === '') await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await rabbitmqctl('close_connection', id, 'closed by the test');
      const error = await lost;
      assert.equal(classify(error), 'dependency');
      assert.equal(exitCodeFor(error), ExitCode.DEPENDENCY_FAILURE);
    } finally {
      await client.close();
    }
  });

  test('an operation on a missing queue stays a dependency failure (exit 69)', async () => {
    const { client, lost } = await connected('broker-errors missing-queue');
    try {
      const channel = await client.openChannel('check');
      const failure = await channel.checkQueue('no-such-queue').then(
        () => assert.fail('checkQueue of a missing queue resolved'),
        (error: unknown) => error,
      );
      assert.match((failure as Error).message, /404/);
      assert.equal(classify(failure), 'dependency');
      assert.equal(classify(await lost), 'dependency');
    } finally {
      await client.close();
    }
  });
});
