import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { ThreadChannel } from '../../../src/lib/threads/thread-channel.js';

/**
 * A channel handles what arrives at once within a turn's budget (50 ms) and the rest in the
 * next turns, in order: between them the event loop's timers run (a worker's heartbeat).
 */

interface Spin {
  request: { n: number; ms: number };
  response: number;
}

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

function pair(): [ThreadChannel<Spin>, ThreadChannel<Spin, Spin>] {
  const { port1, port2 } = new MessageChannel();
  return [
    new ThreadChannel('client', port1).as<Spin>(),
    new ThreadChannel('server', port2).as<Spin, Spin>(),
  ];
}

test('requests that arrive together are handled in order, with timers running between turns', async (t) => {
  const [client, server] = pair();
  t.after(() => {
    client.close();
    server.close();
  });
  const handled: number[] = [];
  // The longest the loop went without a timer firing, while the requests were handled.
  let lastTick = performance.now();
  let longestGapMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - lastTick);
    lastTick = now;
  }, 5);
  t.after(() => clearInterval(ticker));
  server.serve(({ n, ms }) => {
    spin(ms);
    handled.push(n);
    return n;
  });
  // 40 requests of 10 ms in one port message: 400 ms of work.
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, n) => client.request({ n, ms: 10 })),
  );
  assert.deepEqual(
    answers,
    Array.from({ length: 40 }, (_, n) => n),
  );
  assert.deepEqual(handled, answers, 'handled in the order sent');
  // A turn is 50 ms and the next one's first request (10 ms) with it; unbounded, it was 400.
  assert.ok(longestGapMs < 200, `timers waited ${Math.round(longestGapMs)} ms`);
});

test('drain() waits for the requests still waiting for their turn', async (t) => {
  const [client, server] = pair();
  t.after(() => {
    client.close();
    server.close();
  });
  let handled = 0;
  let firstHandled: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (firstHandled = resolve));
  server.serve(({ ms }) => {
    spin(ms);
    firstHandled();
    return ++handled;
  });
  const answers = Promise.all(Array.from({ length: 12 }, (_, n) => client.request({ n, ms: 20 })));
  // Resumes after the turn that received the port message (all 12 requests) ends.
  await first;
  assert.ok(server.active > 0, 'none waiting');
  assert.ok(handled < 12, `all ${handled} handled in the first turn`);
  await server.drain();
  assert.equal(handled, 12);
  assert.equal(server.active, 0);
  assert.equal((await answers).length, 12);
});

test("a handler's result whose then getter throws is that request's failure, not an uncaught error in the serving thread", async (t) => {
  const [client, server] = pair();
  t.after(() => {
    client.close();
    server.close();
  });
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    uncaught.push(error);
  };
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  server.serve(
    () =>
      ({
        get then(): never {
          throw new Error('then getter');
        },
      }) as never,
  );
  await assert.rejects(client.request({ n: 1, ms: 0 }), /then getter/);
  assert.deepEqual(uncaught, []);
});
