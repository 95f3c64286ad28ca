import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ServiceProcess } from '../helpers/service-process.js';
import {
  BrokerObserver,
  headerOf,
  startAmqpFixture,
  startOnVhost,
  stopOnVhost,
  queues,
  type TestVhost,
} from '../helpers/broker.js';
import type { FixtureResult } from '../fixtures/amqp-service/work.worker.js';

/**
 * Hostile input against the AMQP fixture service on the real RabbitMQ: each kind has a clear,
 * immediate outcome and loses nothing. One vhost and one service (default body limit) for
 * the file. (Bodies the sample cannot read, such as JSON nested too deep, are the sample's
 * subject: test/app.)
 */

let vhost: TestVhost;
let observer: BrokerObserver;
let service: ServiceProcess;

before(async () => {
  ({ vhost, observer, service } = await startOnVhost('amqp-hostile', (url) =>
    startAmqpFixture(url, { LOG_LEVEL: 'debug' }),
  ));
});

after(() => stopOnVhost({ vhost, observer, service }));

describe('hostile input on RabbitMQ', () => {
  test('a __proto__ header table cannot forge the attempt count', async () => {
    const id = randomUUID();
    // An own property named __proto__ (JSON.parse makes one); amqplib's decoder on the
    // service's side turns it into the prototype of the headers object.
    const headers = JSON.parse('{"__proto__": {"x-attempt": 3}}') as Record<string, unknown>;
    await observer.publish(queues.input, [JSON.stringify({ transient: 1 })], () => ({
      messageId: id,
      headers,
    }));
    const [result] = await observer.collect(queues.results, (r) => r.length >= 1);
    assert.equal(result?.properties.messageId, id);
    // Forged, attempt 3 would have succeeded at once; read honestly, attempt 1 fails and
    // the retry (attempt 2) succeeds.
    assert.equal((result?.json as FixtureResult).attempt, 2);
  });

  test('a message without a message id gets a stable one, derived from the message', async () => {
    const same = JSON.stringify({ text: `same ${randomUUID()}` });
    const other = JSON.stringify({ text: `other ${randomUUID()}`, transient: 1 });
    const timestamp = Math.floor(Date.now() / 1000);
    // Two identical messages (body and properties), and one that is retried once.
    await observer.publish(queues.input, [same, same, other], (i) => ({
      timestamp,
      correlationId: i < 2 ? 'twin' : 'retried',
    }));
    const results = await observer.collect(queues.results, (r) => r.length >= 3);
    const idsOf = (cid: string): string[] =>
      results
        .filter((r) => r.properties.correlationId === cid)
        .map((r) => String(r.properties.messageId));
    const twins = idsOf('twin');
    const [retried] = idsOf('retried');
    assert.equal(twins.length, 2);
    assert.match(String(twins[0]), /^sha256:[0-9a-f]{32}$/);
    assert.equal(twins[0], twins[1], 'the same message, the same id');
    assert.match(String(retried), /^sha256:[0-9a-f]{32}$/);
    assert.notEqual(retried, twins[0], 'another message, another id');
    // The retried message kept its derived id through the retry (the result is attempt 2).
    const scheduled = service.lines.find(
      (l) => l.msg === 'message failed; retry scheduled' && l['correlationId'] === 'retried',
    );
    assert.equal(scheduled?.['messageId'], retried);
    const result = results.find((r) => r.properties.correlationId === 'retried');
    assert.equal((result?.json as FixtureResult).attempt, 2);
  });

  test('an overlong or odd correlation id is replaced, with one warning', async () => {
    // The property holds at most 255 characters; the header has no limit.
    const given = [
      { correlationId: 'p'.repeat(250) },
      { headers: { 'x-correlation-id': 'h'.repeat(10_000) } },
      { headers: { 'x-correlation-id': 'two\nlines' } },
    ];
    await observer.publish(
      queues.input,
      given.map((_, i) => JSON.stringify({ text: `cid ${i}` })),
      (i) => ({ messageId: `cid-${i}`, ...given[i] }),
    );
    const results = await observer.collect(queues.results, (r) => r.length >= given.length);
    for (const result of results) {
      assert.match(String(result.properties.correlationId), /^[0-9a-f-]{36}$/);
    }
    const warnings = service.lines.filter((l) => l.msg === "message's correlation id replaced");
    assert.deepEqual(warnings.map((l) => l['messageId']).sort(), ['cid-0', 'cid-1', 'cid-2']);
    assert.match(String(warnings.find((l) => l['messageId'] === 'cid-1')?.['reason']), /10000/);
    assert.ok(
      !service.lines.some((l) => /p{129}|h{129}|two\nlines/.test(JSON.stringify(l))),
      'no given id reaches a log line',
    );
  });

  test('an odd correlation id replaced on the first attempt keeps its replacement through a retry', async () => {
    // A retry copy keeps the producer's property and carries the replacement in the header:
    // each attempt replaced the property anew, so the attempts' log lines could not be joined.
    await observer.publish(
      queues.input,
      [JSON.stringify({ text: 'odd cid, retried', transient: 1 })],
      () => ({ messageId: 'odd-cid-retried', correlationId: 'has space' }),
    );
    const [result] = await observer.collect(queues.results, (r) => r.length >= 1);
    assert.equal((result?.json as FixtureResult).attempt, 2);
    const replaced = service.lines.filter(
      (l) => l.msg === "message's correlation id replaced" && l['messageId'] === 'odd-cid-retried',
    );
    assert.equal(replaced.length, 2, 'one warning per attempt');
    const ids = new Set(replaced.map((l) => l['correlationId']));
    assert.equal(ids.size, 1, `one id for both attempts: ${[...ids].join(', ')}`);
    assert.equal(result?.properties.correlationId, [...ids][0]);
  });

  test('every property survives the retries and reaches the failed queue', async () => {
    const original = {
      messageId: `props-${randomUUID()}`,
      correlationId: 'props-cid',
      contentType: 'application/json',
      contentEncoding: 'identity',
      type: 'fixture.event',
      appId: 'some-producer',
      userId: 'guest',
      replyTo: 'reply.to.queue',
      expiration: '600000',
      priority: 7,
      timestamp: 1_700_000_000,
      persistent: true,
      headers: { 'x-custom': 'kept', 'x-number': 42 },
    };
    await observer.publish(queues.input, [JSON.stringify({ transient: 1000 })], () => original);
    const [failed] = await observer.collect(queues.failed, (r) => r.length >= 1);
    assert.ok(failed);
    const p = failed.properties;
    assert.equal(headerOf(failed, 'x-attempts'), 3, 'through both retries');
    for (const name of [
      'messageId',
      'correlationId',
      'contentType',
      'contentEncoding',
      'type',
      'appId',
      'replyTo',
      'priority',
      'timestamp',
    ] as const) {
      assert.equal(p[name], original[name], name);
    }
    assert.equal(p.deliveryMode, 2, 'persistent');
    assert.equal(headerOf(failed, 'x-custom'), 'kept');
    assert.equal(headerOf(failed, 'x-number'), 42);
    // A per-message TTL and the user id do not travel as properties (docs/amqp.md says why).
    assert.equal(p.expiration, undefined);
    assert.equal(headerOf(failed, 'x-original-expiration'), '600000');
    assert.equal(p.userId, undefined);
    assert.equal(headerOf(failed, 'x-original-user-id'), 'guest');
  });

  test('header values amqplib cannot write back: every copy carries them, the service runs on', async () => {
    // Each used to throw in amqplib's encoder in the failure path: 70, then the same message
    // delivered again, a restart loop. Sent by pika (Python), as another producer would.
    const id = randomUUID();
    const fails = JSON.stringify({ transient: 1000 }); // retried, then failed
    await pikaPublish(
      vhost.url,
      queues.input,
      `[{"body": ${JSON.stringify(fails)}, "message_id": "bang-${id}",
         "headers": {"meta": {"!": "bogus", "value": 1}, "x-kept": "yes"}},
        {"body": ${JSON.stringify(fails)}, "message_id": "stamp-${id}",
         "timestamp": 18446744073709551615},
        {"body": ${JSON.stringify(fails)}, "message_id": "large-${id}",
         "headers": {"large": "${'x'.repeat(100_000)}", "x-small": "s"}}]`,
    );
    // A double amqplib reads as a number and would write back as an int64 (the test's own
    // amqplib writes it through its typed-value escape; RabbitMQ refuses NaN and infinities
    // with a connection error to their publisher, so only finite ones arrive).
    await observer.publish(queues.input, [fails], () => ({
      messageId: `double-${id}`,
      headers: { hugeNeg: { '!': 'double', value: -1e30 } },
    }));
    const failed = await observer.collect(
      queues.failed,
      (r) => r.filter((m) => String(m.properties.messageId).endsWith(id)).length >= 4,
      60_000,
    );
    const copy = (prefix: string) => {
      const found = failed.find((m) => m.properties.messageId === `${prefix}-${id}`);
      assert.ok(found, prefix);
      assert.equal(headerOf(found, 'x-attempts'), 3, `${prefix}: through both retries`);
      return found;
    };
    const bang = copy('bang');
    assert.deepEqual(headerOf(bang, 'meta'), { '!': 'bogus', value: 1 });
    assert.equal(headerOf(bang, 'x-kept'), 'yes');
    const stamp = copy('stamp');
    assert.equal(stamp.properties.timestamp, undefined);
    assert.deepEqual(headerOf(stamp, 'x-original-timestamp'), 2 ** 64);
    const large = copy('large');
    assert.equal(headerOf(large, 'large'), undefined);
    assert.equal(
      headerOf(large, 'x-small'),
      undefined,
      'the original headers travel whole or not at all',
    );
    assert.match(
      String(headerOf(large, 'x-original-headers-dropped')),
      /^\d+ bytes of headers encoded, over the \d+ a copy can carry$/,
    );
    assert.match(String(headerOf(large, 'x-failure-reason')), /transient/);
    const double = copy('double');
    assert.equal(headerOf(double, 'hugeNeg'), -1e30);
    assert.equal(service.child.exitCode, null, service.tail());
    assert.ok(
      !service.lines.some((l) => l.level === 'error'),
      'no application error: the copies went out',
    );
  });

  test('headers the broker acts on stay off the copies: CC, a malformed x-death, a transient mode, a deep table', async () => {
    const id = randomUUID();
    const fails = JSON.stringify({ transient: 1000 }); // retried twice, then failed
    const nested = (levels: number): unknown => {
      let value: unknown = 'x';
      for (let i = 0; i < levels; i++) value = { a: value };
      return value;
    };
    const sent: Array<[string, string, Record<string, unknown>]> = [
      // The broker routes a publish with CC to those queues too: each copy came back to the
      // input, and the failed queue grew by some 100 copies a second.
      ['cc', fails, { headers: { CC: [queues.input] } }],
      // RabbitMQ 3.10's dead-lettering crashed on this count when the delay queue expired the
      // copy: the retry was never delivered and the delay queue was left dead.
      [
        'death',
        JSON.stringify({ transient: 1 }),
        {
          headers: {
            'x-death': [{ count: 'abc', queue: `${queues.input}.retry.100ms`, reason: 'expired' }],
          },
        },
      ],
      ['transient', fails, { persistent: false }],
      ['deep', fails, { headers: { deep: nested(200) } }],
      ['sentinel', fails, {}],
    ];
    for (const [name, body, properties] of sent) {
      await observer.publish(queues.input, [body], () => ({
        messageId: `${name}-${id}`,
        ...properties,
      }));
    }
    const ours = (m: { properties: { messageId?: unknown } }, name: string) =>
      m.properties.messageId === `${name}-${id}`;
    const [result] = await observer.collect(queues.results, (r) => r.some((m) => ours(m, 'death')));
    assert.equal((result?.json as FixtureResult).attempt, 2, 'the retry came back from its delay');
    // Every failure of the batch is in, the sentinel published last included.
    const failed = await observer.collect(queues.failed, (r) =>
      ['cc', 'transient', 'deep', 'sentinel'].every((n) => r.some((m) => ours(m, n))),
    );
    const cc = failed.filter((m) => ours(m, 'cc'));
    assert.equal(cc.length, 1, 'one failed copy, no loop');
    assert.equal(headerOf(cc[0]!, 'CC'), undefined);
    assert.deepEqual(headerOf(cc[0]!, 'x-original-cc'), [queues.input]);
    const transient = failed.find((m) => ours(m, 'transient'));
    assert.equal(transient?.properties.deliveryMode, 2, 'the failed copy outlives a restart');
    assert.equal(headerOf(transient, 'x-original-delivery-mode'), 1);
    let deep = headerOf(
      failed.find((m) => ours(m, 'deep'))!,
      'deep',
    );
    for (let i = 0; i < 32; i++) deep = (deep as { a: unknown }).a;
    assert.equal(deep, '[cut: nested deeper than 32 levels]');
    assert.equal(service.child.exitCode, null, service.tail());
    assert.ok(!service.lines.some((l) => l.level === 'error' || l.level === 'fatal'));
  });

  test("headers nested too deep for amqplib's decoder: the message is handled, its headers kept as bytes; the connection stays up", async () => {
    // 5,000 tables (35 KB): amqplib's recursive decoder overflowed the stack in its read loop
    // and closed the connection: 69 at every delivery, until the delivery limit dead-lettered
    // it and every message in hand with it, without a reason.
    const id = randomUUID();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--stack-size=7000',
        deepPublisher,
        vhost.url,
        queues.input,
        '5000',
        `deep-${id}`,
        JSON.stringify({ transient: 1000 }),
      ],
      { timeout: 20_000 },
    );
    assert.equal(stdout.trim(), 'sent');
    const failed = await observer.collect(queues.failed, (r) =>
      r.some((m) => m.properties.messageId === `deep-${id}`),
    );
    const copy = failed.find((m) => m.properties.messageId === `deep-${id}`)!;
    assert.equal(headerOf(copy, 'x-attempts'), 3, 'through both retries');
    const bytes = headerOf(copy, 'x-undecodable-headers');
    assert.ok(Buffer.isBuffer(bytes) && bytes.length > 5000 * 7, 'the table as it came');
    assert.equal(service.child.exitCode, null, service.tail());
    assert.ok(!service.lines.some((l) => /connection (error|closed)/.test(String(l.msg))));
  });

  test('counting headers set to tables no number can be made of: read as absent, the service runs on', async () => {
    // amqplib decodes {"toString": 1} into an object Number() throws on; read in the consume
    // callback, that took the connection down (69), and again after each restart.
    const id = randomUUID();
    await pikaPublish(
      vhost.url,
      queues.input,
      `[{"body": ${JSON.stringify(JSON.stringify({ transient: 1 }))}, "message_id": "odd-${id}",
         "headers": {"x-attempt": {"toString": 1}, "x-delivery-count": {"valueOf": 1, "toString": 2}}}]`,
    );
    const isOdd = (m: { properties: { messageId?: unknown } }) =>
      m.properties.messageId === `odd-${id}`;
    const results = await observer.collect(queues.results, (r) => r.some(isOdd), 30_000);
    const result = results.find(isOdd);
    // Read as attempt 1: it failed once, and its retry (attempt 2) succeeded.
    assert.equal((result?.json as FixtureResult).attempt, 2);
    assert.equal(service.child.exitCode, null, service.tail());
    assert.ok(!service.lines.some((l) => l.level === 'error' || l.level === 'fatal'));
  });

  test('a retry or failed copy drops the delivery count its original had: no detour through the quarantine', async () => {
    // A suspect redelivered in the quarantine (x-delivery-count 1 after a crash there), then
    // failing: its retry copy carried the stale count back into the input queue, where it read
    // as a redelivery and went through the quarantine again; the failed copy carried it too.
    const id = randomUUID();
    const bodies = [JSON.stringify({ transient: 1 }), JSON.stringify({ transient: 1000 })];
    await observer.publish(queues.quarantine, bodies, (i) => ({
      messageId: `${i === 0 ? 'retried' : 'failed'}-stale-${id}`,
      headers: { 'x-delivery-count': 1 },
    }));
    const byId = (prefix: string) => (m: { properties: { messageId?: unknown } }) =>
      m.properties.messageId === `${prefix}-stale-${id}`;
    const results = await observer.collect(queues.results, (r) => r.some(byId('retried')), 60_000);
    assert.equal((results.find(byId('retried'))?.json as FixtureResult).attempt, 2);
    const failed = await observer.collect(queues.failed, (r) => r.some(byId('failed')), 60_000);
    const copy = failed.find(byId('failed'));
    assert.ok(copy);
    assert.equal(headerOf(copy, 'x-attempts'), 3);
    assert.equal(headerOf(copy, 'x-delivery-count'), undefined, 'the failed copy');
    const detours = service.lines.filter(
      (l) =>
        l.msg === 'redelivered message' &&
        l['movedTo'] !== undefined &&
        String(l['messageId']).endsWith(`stale-${id}`),
    );
    assert.deepEqual(detours, [], 'a retry copy read as a redelivery in the input queue');
  });

  test('short strings that are not UTF-8: processed, the copies keep what cannot be a property in headers', async () => {
    // amqplib reads such bytes as U+FFFD, 3 bytes each: past 255 they cannot be written back
    // as a property or a key, and the result's or a copy's publish threw (70, then a loop).
    const tag = randomUUID();
    const fails = JSON.stringify({ transient: 1000 });
    // The result is told apart by its body's length, which no other message here has.
    const body = JSON.stringify({ text: tag, pad: 'p'.repeat(777) });
    await pikaPublish(
      vhost.url,
      queues.input,
      JSON.stringify([
        { body, message_id_hex: 'ff'.repeat(200) },
        {
          body: fails,
          message_id: `keys-${tag}`,
          header_keys_hex: { ['fe'.repeat(200)]: 'v' },
          headers: { 'x-tag': tag },
          type_hex: 'ff'.repeat(100),
          app_id_hex: 'c3'.repeat(100),
        },
        { body: fails, message_id_hex: 'ff'.repeat(199), headers: { 'x-tag': tag } },
      ]),
    );
    const mine = (m: { json: unknown }) => (m.json as FixtureResult).length === body.length;
    const [result] = (await observer.collect(queues.results, (r) => r.some(mine), 30_000)).filter(
      mine,
    );
    assert.match(String(result?.properties.messageId), /^sha256:[0-9a-f]{32}$/);
    const failed = (
      await observer.collect(
        queues.failed,
        (r) => r.filter((m) => headerOf(m, 'x-tag') === tag).length >= 2,
        60_000,
      )
    ).filter((m) => headerOf(m, 'x-tag') === tag);
    const keys = failed.find((m) => m.properties.messageId === `keys-${tag}`);
    assert.ok(keys);
    assert.deepEqual(headerOf(keys, 'x-unwritable-keys'), [['\ufffd'.repeat(200), 'v']]);
    assert.equal(keys.properties.type, undefined);
    assert.equal(headerOf(keys, 'x-original-type'), '\ufffd'.repeat(100));
    assert.equal(headerOf(keys, 'x-original-app-id'), '\ufffd'.repeat(100));
    const id = failed.find((m) => m !== keys);
    assert.match(String(id?.properties.messageId), /^sha256:/);
    assert.notEqual(id?.properties.messageId, result?.properties.messageId, 'ids derived apart');
    assert.equal(headerOf(id ?? keys, 'x-original-message-id'), '\ufffd'.repeat(199));
    assert.ok(
      service.lines.some(
        (l) => l.msg === "message's id replaced" && /600 bytes/.test(String(l['reason'])),
      ),
      'one warning names the reason',
    );
    assert.equal(service.child.exitCode, null, service.tail());
  });
});

const deepPublisher = fileURLToPath(new URL('../fixtures/deep-header-publish.js', import.meta.url));

const pikaPublisher = fileURLToPath(
  new URL('../../../test/fixtures/pika-publish.py', import.meta.url),
);

/** Publishes with Python's pika (Debian's python3-pika; test-prereqs installs it). */
async function pikaPublish(url: string, queue: string, messagesJson: string): Promise<void> {
  const child = promisify(execFile)('/usr/bin/python3', [pikaPublisher, url, queue], {
    timeout: 20_000,
  });
  child.child.stdin?.end(messagesJson);
  await child;
}
