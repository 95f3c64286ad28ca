import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { ThreadChannel } from '../../../src/lib/threads/thread-channel.js';

/**
 * A request given up by its signal rejects with an Error, whatever the signal was aborted
 * with, as every other wait in the core does (raceAbort): what handles the rejection (the
 * exception scope, a log line's `err`) gets a type, a message and a stack, not a bare string.
 */

interface Echo {
  request: { n: number };
  response: number;
}

function pair(t: { after(fn: () => void): void }): {
  client: ThreadChannel<Echo>;
  server: ThreadChannel<Echo, Echo>;
} {
  const { port1, port2 } = new MessageChannel();
  t.after(() => {
    port1.close();
  });
  return {
    client: new ThreadChannel('client', port1).as<Echo>(),
    server: new ThreadChannel('server', port2).as<Echo, Echo>(),
  };
}

test('a signal already aborted with a string: the request rejects with an AbortError', async (t) => {
  const { client } = pair(t);
  const controller = new AbortController();
  controller.abort('shutting down');
  const error = await client.request({ n: 1 }, controller.signal).then(
    () => assert.fail('resolved'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof Error, `rejected with ${typeof error}: ${String(error)}`);
  assert.equal(error.name, 'AbortError');
});

test('aborted while pending with a string: an AbortError, and the late answer is dropped', async (t) => {
  const { client, server } = pair(t);
  let answer: ((n: number) => void) | undefined;
  server.serve(({ n }) =>
    n === 2 ? new Promise<number>((resolve) => (answer = resolve)) : n * 10,
  );
  const controller = new AbortController();
  const pending = client.request({ n: 2 }, controller.signal);
  while (answer === undefined) await new Promise((resolve) => setImmediate(resolve));
  controller.abort('gave up');
  const error = await pending.then(
    () => assert.fail('resolved'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof Error, `rejected with ${typeof error}: ${String(error)}`);
  assert.equal(error.name, 'AbortError');
  answer(20);
  // The channel still works after the dropped answer.
  assert.equal(await client.request({ n: 3 }), 30);
});

test('aborted with an Error: the request rejects with that very error', async (t) => {
  const { client, server } = pair(t);
  server.serve(() => new Promise<number>(() => undefined));
  const controller = new AbortController();
  const reason = new Error('shutdown: TERM');
  const pending = client.request({ n: 4 }, controller.signal);
  controller.abort(reason);
  await assert.rejects(pending, (e) => e === reason);
});
