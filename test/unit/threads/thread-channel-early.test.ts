import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { ThreadChannel } from '../../../src/lib/threads/thread-channel.js';

/**
 * Workers start together, so one can send to main as soon as it is ready, before main's
 * set-up got to serve() that channel: what comes early waits for the handler.
 */

interface Echo {
  request: { n: number };
  response: number;
}

test('requests and notes sent before serve() are handled, in order, once it is called', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const client = new ThreadChannel('client', port1).as<Echo>();
  const server = new ThreadChannel('server', port2).as<Echo, Echo>();
  t.after(() => {
    port1.close();
  });
  const answers = [1, 2, 3].map((n) => client.request({ n }));
  client.notify({ n: 4 });
  // Let the messages arrive at the server, which has no handler yet.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  const seen: number[] = [];
  server.serve(({ n }) => {
    seen.push(n);
    return n * 10;
  });
  assert.deepEqual(await Promise.all(answers), [10, 20, 30]);
  assert.deepEqual(seen, [1, 2, 3, 4]);
});
