import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { ServiceProcess, sampleEnv } from '../helpers/service-process.js';
import {
  BrokerObserver,
  amqpSettings,
  expectAllAcked,
  headerOf,
  queues,
  startOnVhost,
  stopOnVhost,
  type TestVhost,
} from '../helpers/broker.js';
import type { SampleResult } from '../../src/app/events.js';

/**
 * The sample app (src/app) on the real RabbitMQ, end to end: its events in, its results out
 * (src/app/amqp-intake.ts, the processor thread, the result format), its events' fault hooks
 * (`fail`, `times`, honoured with SAMPLE_FAULT_HOOKS on, and data without), and the bodies it
 * cannot read. The core's AMQP behaviour is proven without the sample, on
 * test/fixtures/amqp-service. One vhost for the file, and one service with the hooks on until
 * the last test, which replaces it with one on the defaults.
 */

let vhost: TestVhost;
let observer: BrokerObserver;
let service: ServiceProcess;

before(async () => {
  ({ vhost, observer, service } = await startOnVhost(
    'app-amqp',
    (url) =>
      new ServiceProcess({
        app: 'sample',
        env: sampleEnv(amqpSettings(url, { LOG_LEVEL: 'debug', SAMPLE_FAULT_HOOKS: 'true' })),
      }),
  ));
});

after(() => stopOnVhost({ vhost, observer, service }));

describe('the sample app on RabbitMQ', () => {
  test('sample events in give sample results out: event id, digest, words, the processor thread', async () => {
    const events = Array.from({ length: 20 }, (_, i) => ({
      id: randomUUID(),
      text: `alpha bravo ${'charlie '.repeat(i)}`.trim(),
    }));
    await observer.publish(
      queues.input,
      events.map((e) => JSON.stringify(e)),
      (i) => ({ messageId: events[i]?.id, correlationId: `app-${i}` }),
    );
    const results = await observer.collect(queues.results, (r) => r.length >= events.length);
    for (const [i, event] of events.entries()) {
      const result = results.find((r) => r.properties.messageId === event.id);
      assert.ok(result, `result for ${event.id}`);
      assert.equal(result.properties.correlationId, `app-${i}`);
      assert.equal(result.properties.type, 'sample.result');
      const json = result.json as SampleResult;
      assert.equal(json.eventId, event.id);
      assert.equal(json.digest, createHash('sha256').update(event.text).digest('hex'));
      assert.equal(json.words, 2 + i);
      assert.equal(json.processedBy, 'processor');
      assert.equal(json.attempt, 1);
      assert.ok(
        service.lines.some(
          (l) =>
            l.thread === 'processor' &&
            l['eventId'] === event.id &&
            l['correlationId'] === `app-${i}`,
        ),
        `processor log line with correlation id app-${i}`,
      );
    }
    await expectAllAcked(vhost.name, queues.input);
  });

  test("the events' fault hooks: transient N times, then a result; permanent, straight to the failed queue", async () => {
    await observer.publish(
      queues.input,
      [
        JSON.stringify({ id: 'hook-transient', text: 'x', fail: 'transient', times: 2 }),
        JSON.stringify({ id: 'hook-permanent', text: 'x', fail: 'permanent' }),
      ],
      (i) => ({ messageId: ['hook-transient', 'hook-permanent'][i] }),
    );
    const [failed] = await observer.collect(queues.failed, (r) => r.length >= 1);
    assert.ok(failed);
    assert.equal(failed.properties.messageId, 'hook-permanent');
    assert.equal(headerOf(failed, 'x-error-class'), 'PermanentError');
    assert.equal(headerOf(failed, 'x-attempts'), 1);
    const [result] = await observer.collect(queues.results, (r) => r.length >= 1);
    assert.equal(result?.properties.messageId, 'hook-transient');
    assert.equal((result?.json as SampleResult).attempt, 3);
  });

  test('bytes that are not UTF-8 and encoded bodies are poison, said as such; a body is never quoted in the log', async () => {
    // Bytes that are not UTF-8 were read as U+FFFD and a result published for data the
    // producer never sent; gzip failed as 'not valid JSON'; an unknown encoding went through;
    // the JSON parser's error quoted the body's first characters into the log line.
    const event = (id: string): string => JSON.stringify({ id, text: 'plain' });
    const bodies: Array<{ id: string; body: Buffer; contentEncoding?: string }> = [
      {
        id: 'not-utf8',
        body: Buffer.concat([
          Buffer.from('{"id":"x1","text":"a'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from('"}'),
        ]),
      },
      { id: 'gzip', body: gzipSync(event('gzip')), contentEncoding: 'gzip' },
      { id: 'unknown', body: Buffer.from(event('unknown')), contentEncoding: 'x-weird' },
      { id: 'charset', body: Buffer.from(event('charset')), contentEncoding: 'UTF-8' },
      { id: 'quoted', body: Buffer.from('hunter2-supersecret-token') },
    ];
    await observer.publish(
      queues.input,
      bodies.map((b) => b.body),
      (i) => ({
        messageId: `enc-${bodies[i]!.id}`,
        ...(bodies[i]!.contentEncoding !== undefined && {
          contentEncoding: bodies[i]!.contentEncoding,
        }),
      }),
    );
    const failed = await observer.collect(queues.failed, (r) => r.length >= 4);
    const reasons = new Map(
      failed.map((f) => [
        f.properties.messageId as string,
        String(headerOf(f, 'x-failure-reason')),
      ]),
    );
    assert.match(reasons.get('enc-not-utf8') ?? '', /message body is not valid UTF-8/);
    assert.match(
      reasons.get('enc-gzip') ?? '',
      /content-encoding "gzip", which the sample does not decode/,
    );
    assert.match(reasons.get('enc-unknown') ?? '', /content-encoding "x-weird"/);
    assert.match(reasons.get('enc-quoted') ?? '', /message body is not valid JSON/);
    assert.equal(failed.length, 4, 'a charset in content-encoding is no encoding');
    const [result] = await observer.collect(queues.results, (r) => r.length >= 1);
    assert.equal(result?.properties.messageId, 'enc-charset');
    const quoted = service.lines.filter((l) => l['messageId'] === 'enc-quoted');
    assert.ok(quoted.length > 0, service.tail());
    assert.ok(!JSON.stringify(service.lines).includes('hunter2'), 'the body is not quoted');
  });

  test('bodies the sample cannot read are poison: not JSON, not an object, nested too deep, an id too long', async () => {
    // 400 KB: JSON.parse takes it, JSON.stringify overflows the stack (RangeError).
    const depth = 200_000;
    const deep = `{"nested":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const longId = JSON.stringify({ id: 'i'.repeat(900_000), text: 'x' });
    const poison = ['{not json', '[1,2,3]', '"a string"', 'null', deep, longId];
    await observer.publish(queues.input, poison, (i) => ({ messageId: `poison-${i}` }));
    const failed = await observer.collect(queues.failed, (r) => r.length >= poison.length);
    const reasons = new Map(
      failed.map((f) => [
        f.properties.messageId as string,
        String(headerOf(f, 'x-failure-reason')),
      ]),
    );
    assert.match(reasons.get('poison-0') ?? '', /not valid JSON/);
    assert.match(reasons.get('poison-1') ?? '', /not an object \(array\)/);
    assert.match(reasons.get('poison-2') ?? '', /not an object \(string\)/);
    assert.match(reasons.get('poison-3') ?? '', /not an object \(null\)/);
    assert.match(reasons.get('poison-4') ?? '', /nested deeper than 256 levels \(200001\)/);
    assert.match(
      reasons.get('poison-5') ?? '',
      /event id is longer than 256 characters \(900000\)/,
    );
    for (const f of failed) {
      assert.equal(headerOf(f, 'x-attempts'), 1);
      assert.equal(headerOf(f, 'x-error-kind'), 'permanent');
    }
    assert.equal(
      failed.find((f) => f.properties.messageId === 'poison-4')?.body.length,
      deep.length,
    );
    const deepLines = service.lines.filter((l) => l['messageId'] === 'poison-4');
    assert.ok(!deepLines.some((l) => l.msg === 'message failed; retry scheduled'), 'not retried');
    assert.ok(!service.lines.some((l) => l.msg === 'application error'), 'not reported');
    assert.equal(service.child.exitCode, null, 'the service is still running');
    await expectAllAcked(vhost.name, queues.input);
  });

  test("without SAMPLE_FAULT_HOOKS (the default), an event's fault hook is data: any producer's event gets its result", async () => {
    service.child.kill('SIGTERM');
    assert.deepEqual(await service.waitForExit(), { code: 0, signal: null });
    service = new ServiceProcess({
      app: 'sample',
      env: sampleEnv(amqpSettings(vhost.url, { LOG_LEVEL: 'debug' })),
    });
    await service.waitFor('ready', 30_000);
    const hooks = ['transient', 'permanent', 'unexpected'];
    await observer.publish(
      queues.input,
      hooks.map((fail) => JSON.stringify({ id: `off-${fail}`, text: 'x', fail })),
      (i) => ({ messageId: `off-${hooks[i]}` }),
    );
    const results = await observer.collect(queues.results, (r) => r.length >= hooks.length);
    assert.deepEqual(
      results
        .map((r): [unknown, number] => [r.properties.messageId, (r.json as SampleResult).attempt])
        .sort(),
      hooks.map((fail) => [`off-${fail}`, 1]).sort(),
    );
    assert.ok(!service.lines.some((l) => l.msg?.startsWith('message failed')), 'none failed');
    await expectAllAcked(vhost.name, queues.input);
  });
});
