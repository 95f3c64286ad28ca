import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ServiceProcess } from '../helpers/service-process.js';
import {
  BrokerObserver,
  headerOf,
  startAmqpFixture,
  startOnVhost,
  stopOnVhost,
  subscribeResults,
  expectAllAcked,
  queues,
  type TestVhost,
} from '../helpers/broker.js';
import type { FixtureResult } from '../fixtures/amqp-service/work.worker.js';

/**
 * The AMQP fixture service (test/fixtures/amqp-service) consuming from the real RabbitMQ:
 * results, correlation ids, delayed retries, the failed queue and poison messages. One vhost
 * and one service for the file.
 */

let vhost: TestVhost;
let observer: BrokerObserver;
let service: ServiceProcess;

before(async () => {
  ({ vhost, observer, service } = await startOnVhost('amqp-pipeline', (url) =>
    startAmqpFixture(url, { AMQP_MAX_MESSAGE_BYTES: '2048', LOG_LEVEL: 'debug' }),
  ));
});

after(() => stopOnVhost({ vhost, observer, service }));

describe('an AMQP service on RabbitMQ', () => {
  test('N events in give N results out, each carrying its message id and correlation id', async () => {
    const n = 60;
    const ids = Array.from({ length: n }, () => randomUUID());
    // A third set the property, a third the header, a third nothing (the service makes one).
    await observer.publish(
      queues.input,
      ids.map((id, i) => JSON.stringify({ text: `event number ${i}`, seq: i, id })),
      (i) => ({
        messageId: ids[i],
        ...(i % 3 === 0 ? { correlationId: `cid-${i}` } : {}),
        ...(i % 3 === 1 ? { headers: { 'x-correlation-id': `hdr-${i}` } } : {}),
      }),
    );
    const results = await observer.collect(queues.results, (r) => r.length >= n);
    assert.equal(results.length, n);
    const byId = new Map(results.map((r) => [r.properties.messageId as string, r]));
    assert.equal(byId.size, n, 'one result per message id');
    ids.forEach((id, i) => {
      const result = byId.get(id);
      assert.ok(result, `result for ${id}`);
      const cid = result.properties.correlationId as string;
      if (i % 3 === 0) assert.equal(cid, `cid-${i}`);
      else if (i % 3 === 1) assert.equal(cid, `hdr-${i}`);
      else assert.match(cid, /^[0-9a-f-]{36}$/);
      assert.equal((result.json as FixtureResult).messageId, id);
      // The correlation id reached the worker thread's log line for this message.
      assert.ok(
        service.lines.some(
          (l) => l.thread === 'work' && l['messageId'] === id && l['correlationId'] === cid,
        ),
        `worker log line with correlation id ${cid}`,
      );
    });
    // Every input acked: none ready, and none delivered but unacknowledged (a missing ack).
    await expectAllAcked(vhost.name, queues.input);
  });

  test('a handler failing twice then succeeding gives exactly one result, after the retry delays', async () => {
    const id = randomUUID();
    const started = Date.now();
    await observer.publish(queues.input, [JSON.stringify({ transient: 2 })], () => ({
      messageId: id,
      correlationId: `retry-${id}`,
    }));
    const [result] = await observer.collect(queues.results, (r) => r.length >= 1);
    assert.ok(result);
    assert.ok(Date.now() - started >= 100 + 300, 'not before both delays (100 + 300 ms)');
    assert.equal(result.properties.messageId, id);
    assert.equal(result.properties.correlationId, `retry-${id}`);
    assert.equal((result.json as FixtureResult).attempt, 3);
    const scheduled = service.lines.filter(
      (l) => l.msg === 'message failed; retry scheduled' && l['correlationId'] === `retry-${id}`,
    );
    assert.deepEqual(
      scheduled.map((l) => [l['attempt'], l['delayMs']]),
      [
        [1, 100],
        [2, 300],
      ],
    );
    for (const queue of [
      queues.input,
      `${queues.input}.retry.100ms`,
      `${queues.input}.retry.300ms`,
    ]) {
      await expectAllAcked(vhost.name, queue);
    }
    assert.equal(await observer.depth(queues.results), 0, 'no second result');
  });

  test('a handler that always fails ends in the failed queue with reason, class, attempts and queue', async () => {
    const id = randomUUID();
    await observer.publish(queues.input, [JSON.stringify({ transient: 1000 })], () => ({
      messageId: id,
      correlationId: `always-${id}`,
    }));
    const [failed] = await observer.collect(queues.failed, (r) => r.length >= 1);
    assert.ok(failed);
    assert.equal(failed.properties.messageId, id);
    assert.equal(failed.properties.correlationId, `always-${id}`);
    assert.equal(headerOf(failed, 'x-attempts'), 3);
    assert.equal(headerOf(failed, 'x-error-class'), 'TransientError');
    assert.equal(headerOf(failed, 'x-error-kind'), 'transient');
    assert.equal(headerOf(failed, 'x-original-queue'), queues.input);
    assert.match(String(headerOf(failed, 'x-failure-reason')), /gave up after 3 attempts/);
    assert.deepEqual(failed.json, { transient: 1000 }, 'the original body, unchanged');
    // No x-attempt: moved back to the input (a replay), it gets its retries again. With its
    // x-attempt 3 it came back on its last attempt and failed at the first transient error.
    assert.equal(headerOf(failed, 'x-attempt'), undefined);
    assert.equal(await observer.depth(queues.results), 0, 'no result');
  });

  test("a producer's x-attempt past the last attempt counts as the last: the failed copy says 3, not the producer's figure", async () => {
    const id = randomUUID();
    await observer.publish(queues.input, [JSON.stringify({ transient: 1000 })], () => ({
      messageId: id,
      headers: { 'x-attempt': 999_999_999_999_999 },
    }));
    const [failed] = await observer.collect(queues.failed, (r) => r.length >= 1);
    assert.equal(failed?.properties.messageId, id);
    assert.equal(headerOf(failed, 'x-attempts'), 3);
    assert.match(String(headerOf(failed, 'x-failure-reason')), /^gave up after 3 attempts/);
  });

  test('a permanent handler failure goes straight to the failed queue after one attempt', async () => {
    await observer.publish(queues.input, [JSON.stringify({ permanent: true })]);
    const [failed] = await observer.collect(queues.failed, (r) => r.length >= 1);
    assert.ok(failed);
    assert.equal(headerOf(failed, 'x-attempts'), 1);
    assert.equal(headerOf(failed, 'x-error-class'), 'PermanentError');
    assert.equal(headerOf(failed, 'x-error-kind'), 'permanent');
  });

  test('poison messages (not JSON, not an object, oversized) end in the failed queue and the service keeps running', async () => {
    const poison = [
      '{not json',
      '[1,2,3]',
      '"a string"',
      'null',
      JSON.stringify({ text: 'x'.repeat(4096) }),
    ];
    await observer.publish(queues.input, poison, (i) => ({ messageId: `poison-${i}` }));
    const failed = await observer.collect(queues.failed, (r) => r.length >= poison.length);
    const reasons = new Map(
      failed.map((f) => [
        f.properties.messageId as string,
        String(headerOf(f, 'x-failure-reason')),
      ]),
    );
    assert.match(reasons.get('poison-0') ?? '', /body is not JSON/);
    for (const i of [1, 2, 3]) {
      assert.match(reasons.get(`poison-${i}`) ?? '', /body is not a JSON object/);
    }
    assert.match(reasons.get('poison-4') ?? '', /over the limit of 2048 bytes/);
    for (const f of failed) {
      assert.equal(headerOf(f, 'x-attempts'), 1);
      assert.equal(headerOf(f, 'x-error-class'), 'PermanentError');
    }
    // Still serving: a good event after the poison gets its result.
    await observer.publish(queues.input, [JSON.stringify({ text: 'still alive' })], () => ({
      messageId: 'after-poison',
    }));
    const [result] = await observer.collect(queues.results, (r) => r.length >= 1);
    assert.equal(result?.properties.messageId, 'after-poison');
    assert.equal(service.child.exitCode, null, 'the service is still running');
    assert.ok(!service.lines.some((l) => l.msg === 'application error'), 'no application error');
  });

  test("a fork's handler throwing what nothing can read, or an error whose name is 200,000 characters: retried, failed with a reason, the service runs on", async () => {
    // The first crashed every delivery (70) until the delivery limit dead-lettered it without a
    // reason; the second made the failed copy unpublishable (70 at every delivery).
    await observer.publish(
      queues.input,
      [JSON.stringify({ unreadable: true }), JSON.stringify({ longName: true })],
      (i) => ({ messageId: ['unreadable', 'long-name'][i] }),
    );
    const failed = await observer.collect(queues.failed, (r) => r.length >= 2);
    const byId = new Map(failed.map((f) => [f.properties.messageId as string, f]));
    const unreadable = byId.get('unreadable');
    assert.ok(unreadable, JSON.stringify([...byId.keys()]));
    assert.match(
      String(headerOf(unreadable, 'x-failure-reason')),
      /^gave up after 3 attempts: a thrown function that cannot be read$/,
    );
    assert.equal(headerOf(unreadable, 'x-error-class'), 'NonError');
    const long = byId.get('long-name');
    assert.ok(long, JSON.stringify([...byId.keys()]));
    assert.equal(headerOf(long, 'x-error-class'), 'N'.repeat(255));
    assert.equal(
      headerOf(long, 'x-error-code'),
      'E_FIXTURE amqp://fixture:[Redacted]@broker.example/',
    );
    assert.equal(service.child.exitCode, null, 'the service is still running');
  });

  test('results reach the ZeroMQ endpoint with their correlation ids', async () => {
    const endpoint = String((await service.waitFor('ready'))['zmqEndpoint']);
    const subscriber = await subscribeResults(endpoint, () =>
      observer.publish(queues.input, [JSON.stringify({ text: 'warm-up' })], () => ({
        correlationId: 'warm-up',
      })),
    );
    try {
      await observer.collect(queues.results, (r) => r.length >= subscriber.published);
      const cids = ['zmq-a', 'zmq-b', 'zmq-c'];
      await observer.publish(
        queues.input,
        cids.map((c) => JSON.stringify({ text: c })),
        (i) => ({ correlationId: cids[i] }),
      );
      const seen: string[] = [];
      while (seen.length < cids.length) {
        const [, cid, body] = await subscriber.receive();
        if (cid?.toString() === 'warm-up') continue;
        seen.push(cid?.toString() ?? '');
        assert.equal((JSON.parse(body?.toString() ?? '{}') as Partial<FixtureResult>).attempt, 1);
      }
      assert.deepEqual(seen.sort(), cids);
      await observer.collect(queues.results, (r) => r.length >= cids.length);
    } finally {
      subscriber.close();
    }
  });

  test('queue statistics are logged with depth, consumers and rate', async () => {
    const line = await service.waitFor((l) => l.msg === 'queue stats' && l['consumers'] === 1);
    assert.equal(line['queue'], queues.input);
    assert.equal(typeof line['depth'], 'number');
    assert.equal(typeof line['settledPerS'], 'number');
  });
});
