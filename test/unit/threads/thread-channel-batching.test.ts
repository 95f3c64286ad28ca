import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { MessageChannel } from 'node:worker_threads';
import { ThreadChannel } from '../../../src/lib/threads/thread-channel.js';

/** The thread channel sends what is posted in one turn as one port message. */

interface Echo {
  request: { n: number; extra?: unknown };
  response: number;
}

function pair(): [ThreadChannel<Echo>, ThreadChannel<Echo, Echo>, () => void, () => number] {
  const { port1, port2 } = new MessageChannel();
  let portMessages = 0;
  port2.on('message', () => portMessages++);
  const client = new ThreadChannel('client', port1).as<Echo>();
  const server = new ThreadChannel('server', port2).as<Echo, Echo>();
  return [client, server, () => client.close(), () => portMessages];
}

describe('thread channel batching', () => {
  test('many requests sent in one turn go as one port message and are each answered', async () => {
    const [client, server, close, portMessages] = pair();
    try {
      server.serve(({ n }) => n * 2);
      const answers = await Promise.all(
        Array.from({ length: 500 }, (_, n) => client.request({ n })),
      );
      assert.deepEqual(
        answers,
        Array.from({ length: 500 }, (_, n) => n * 2),
      );
      assert.equal(portMessages(), 1, 'one port message for the 500 requests');
    } finally {
      close();
    }
  });

  test('a request that cannot be cloned rejects alone; the others in its turn are answered', async () => {
    const [client, server, close] = pair();
    try {
      server.serve(({ n }) => n);
      const results = await Promise.allSettled([
        client.request({ n: 1 }),
        client.request({ n: 2, extra: () => undefined }),
        client.request({ n: 3 }),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.match(String((results[1] as PromiseRejectedResult).reason), /could not be cloned/);
    } finally {
      close();
    }
  });

  test('an answer that cannot be cloned reaches the requester as an error', async () => {
    const [client, server, close] = pair();
    try {
      server.serve(() => (() => 1) as unknown as number);
      await assert.rejects(client.request({ n: 1 }), /could not be cloned/);
    } finally {
      close();
    }
  });

  test('close() sends what was queued in the same turn before closing', async () => {
    const { port1, port2 } = new MessageChannel();
    const client = new ThreadChannel('client', port1).as<Echo>();
    const server = new ThreadChannel('server', port2).as<Echo, Echo>();
    const received: number[] = [];
    const closed = once(port2, 'close');
    server.serve(({ n }) => {
      received.push(n);
      return n;
    });
    client.notify({ n: 7 });
    client.notify({ n: 8 });
    client.close();
    await closed;
    assert.deepEqual(received, [7, 8]);
  });
});
