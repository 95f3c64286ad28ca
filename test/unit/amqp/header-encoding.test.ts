import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  deeperThan,
  encodedTableBytes,
  maxCopyHeaderBytes,
  maxHeaderDepth,
  republishable,
} from '../../../src/lib/amqp/header-encoding.js';
import { copyProperties, OriginalHeaders } from '../../../src/lib/amqp/publisher.js';
import { deliveredMessage } from '../../helpers/amqp-message.js';
import { messageIdOf } from '../../../src/lib/amqp/message-identity.js';

/**
 * Headers as amqplib's decoder hands them over, checked against amqplib's own encoder: the
 * codec the service's channel uses (a test may reach into the library; src/ imports it once).
 */
interface Codec {
  encodeTable(buffer: Buffer, table: object, offset: number): number;
  decodeFields(slice: Buffer): Record<string, unknown>;
}
const require = createRequire(import.meta.url);
// Its package's `exports` hides lib/; the file is reached by its path.
const codec = require(join(dirname(require.resolve('amqplib')), 'lib', 'codec.js')) as Codec;

function encode(table: object): Buffer {
  const buffer = Buffer.alloc(1 << 20);
  const size = codec.encodeTable(buffer, table, 0);
  return buffer.subarray(0, size);
}

/** What the service's decoder makes of a table another client encoded. */
function delivered(table: object): Record<string, unknown> {
  return { ...codec.decodeFields(encode(table).subarray(4)), ...uint64Max };
}

/** A timestamp of 2^64 - 1 (a client writing a uint64 sends it); amqplib cannot write it. */
const uint64Max = codec.decodeFields(
  Buffer.from([4, ...Buffer.from('tMax'), 0x54, ...Array<number>(8).fill(0xff)]),
);

// What other clients send and amqplib writes only through its typed-value escape: a table
// with a key named `!`, doubles that are no safe integer, a uint64 timestamp near 2^64.
const hostile = {
  bang: { '!': 'object', value: { '!': 'bogus', value: 1 } },
  bangTimestamp: { '!': 'object', value: { '!': 'timestamp', value: -1 } },
  nested: [{ '!': 'object', value: { '!': 'decimal', value: 'x' } }],
  nan: { '!': 'double', value: Number.NaN },
  negInf: { '!': 'double', value: Number.NEGATIVE_INFINITY },
  hugeNeg: { '!': 'double', value: -1e30 },
  half: { '!': 'double', value: 0.5 },
  stamp: { '!': 'timestamp', value: 1_700_000_000 },
  farStamp: { '!': 'timestamp', value: 2 ** 64 - 4096 },
  decimal: { '!': 'decimal', value: { places: 2, digits: 12_345 } },
  int64: { '!': 'long', value: -(2 ** 63) },
  plain: { s: 'text', b: true, n: null, x: Buffer.from([0, 1, 2]), i: 70_000, a: [1, 'two'] },
};

test('every hostile value, as decoded, throws in amqplib’s encoder; made republishable it does not', () => {
  for (const [name, value] of Object.entries(hostile)) {
    const { tMax, ...decoded } = delivered({ [name]: value });
    assert.deepEqual(tMax, { '!': 'timestamp', value: 2 ** 64 });
    const throws = (() => {
      try {
        encode(decoded);
        return false;
      } catch {
        return true;
      }
    })();
    const expected = !['half', 'stamp', 'farStamp', 'decimal', 'plain', 'int64'].includes(name);
    assert.equal(throws, expected, `${name}: amqplib ${throws ? 'throws' : 'encodes'} as decoded`);
    encode(republishable(decoded)); // throws the test when it does
  }
  assert.throws(() => encode(uint64Max), RangeError);
  encode(republishable(uint64Max));
});

test('what the copy carries reads back as what was delivered', () => {
  const decoded = delivered(hostile);
  const again = delivered(republishable(decoded));
  // Doubles read back as numbers, tables with `!` as tables, typed values as typed values.
  assert.deepEqual(again['bang'], { '!': 'bogus', value: 1 });
  assert.deepEqual(again['bangTimestamp'], { '!': 'timestamp', value: -1 });
  assert.deepEqual(again['nested'], [{ '!': 'decimal', value: 'x' }]);
  assert.ok(Number.isNaN(again['nan']));
  assert.equal(again['negInf'], Number.NEGATIVE_INFINITY);
  assert.equal(again['hugeNeg'], -1e30);
  assert.equal(again['half'], 0.5);
  assert.deepEqual(again['stamp'], { '!': 'timestamp', value: 1_700_000_000 });
  assert.deepEqual(again['decimal'], decoded['decimal']);
  assert.equal(again['int64'], -(2 ** 63));
  assert.deepEqual(again['plain'], decoded['plain']);
  assert.deepEqual(again['farStamp'], { '!': 'timestamp', value: 2 ** 64 - 4096 });
  // 2^64 is no uint64: it travels as the table it reads as.
  assert.deepEqual(again['tMax'], { '!': 'timestamp', value: 2 ** 64 });
});

test('encodedTableBytes is the size amqplib encodes', () => {
  const tables: Array<Record<string, unknown>> = [
    {},
    republishable(delivered(hostile)),
    { a: -129, b: 128, c: -32_769, d: 32_768, e: 2 ** 31, f: -(2 ** 31), g: 2 ** 53 - 1 },
    { ключ: 'значение ✓', deep: { deeper: { deepest: [[], [null], { x: Buffer.alloc(300) }] } } },
    { big: 'x'.repeat(70_000) },
  ];
  for (const table of tables) {
    assert.equal(
      encodedTableBytes(table),
      encode(table).length,
      JSON.stringify(table).slice(0, 80),
    );
  }
});

const message = deliveredMessage;

test('a copy: headers too large to carry are left out, saying so; the core’s own are kept', () => {
  const large = message({ headers: { big: 'x'.repeat(maxCopyHeaderBytes) }, expiration: '5000' });
  const copy = copyProperties(large, { 'x-attempt': 2 });
  assert.equal(copy.headers?.['big'], undefined);
  assert.equal(copy.headers?.['x-attempt'], 2);
  assert.equal(copy.headers?.[OriginalHeaders.expiration], '5000');
  const why = /^(\d+) bytes of headers encoded, over the (\d+) a copy can carry$/.exec(
    String(copy.headers?.[OriginalHeaders.headersDropped]),
  );
  assert.ok(why && Number(why[1]) > maxCopyHeaderBytes, String(why));
  assert.equal(Number(why[2]), maxCopyHeaderBytes);
  encode(copy.headers ?? {});
  // Just under the limit, they travel.
  const under = message({ headers: { big: 'x'.repeat(maxCopyHeaderBytes - 100) } });
  assert.equal(String(copyProperties(under, {}).headers?.['big']).length, maxCopyHeaderBytes - 100);
});

test('a copy: an oversized tracestate is left out alone when that is enough, the other headers kept', () => {
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const huge = message({
    headers: { traceparent, tracestate: `v=${'x'.repeat(62_000)}`, 'x-business': 'y'.repeat(3300) },
  });
  const copy = copyProperties(huge, { 'x-attempt': 2 });
  assert.ok(copy.headers?.['tracestate'] === undefined, 'the tracestate is kept');
  assert.equal(copy.headers?.['traceparent'], traceparent);
  assert.equal(String(copy.headers?.['x-business']).length, 3300);
  assert.equal(copy.headers?.[OriginalHeaders.headersDropped], undefined);
  // Too large without it as well: everything of the original's goes, as before.
  const both = message({
    headers: { tracestate: `v=${'x'.repeat(1000)}`, big: 'x'.repeat(maxCopyHeaderBytes) },
  });
  const dropped = copyProperties(both, {});
  assert.equal(dropped.headers?.['big'], undefined);
  assert.match(String(dropped.headers?.[OriginalHeaders.headersDropped]), /over the/);
});

test("a copy whose headers are too large keeps the core's own (attempt, correlation id, trace, x-original-*) when the caller passes none", () => {
  // A quarantine move and a hand-back pass no headers: the fallback kept nothing of the
  // core's, so a message on its last attempt got every retry again and lost its correlation id.
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const huge = message({
    headers: {
      'x-attempt': 3,
      'x-correlation-id': 'corr-keep-me',
      'x-original-message-id': 'id-before',
      traceparent,
      'x-last-error': 'e'.repeat(2000), // the core's name, too large to keep
      blob: 'y'.repeat(maxCopyHeaderBytes),
    },
  });
  const copy = copyProperties(huge, {});
  assert.equal(copy.headers?.['x-attempt'], 3);
  assert.equal(copy.headers?.['x-correlation-id'], 'corr-keep-me');
  assert.equal(copy.headers?.['x-original-message-id'], 'id-before');
  assert.equal(copy.headers?.['traceparent'], traceparent);
  assert.equal(copy.headers?.['x-last-error'], undefined);
  assert.equal(copy.headers?.['blob'], undefined);
  assert.match(String(copy.headers?.[OriginalHeaders.headersDropped]), /over the/);
  // What the caller passes wins over the original's.
  assert.equal(copyProperties(huge, { 'x-attempt': 4 }).headers?.['x-attempt'], 4);
});

test('a copy: a timestamp amqplib cannot write goes to x-original-timestamp', () => {
  const far = copyProperties(message({ timestamp: 2 ** 64 }), {});
  assert.equal(far.timestamp, undefined);
  assert.deepEqual(far.headers?.[OriginalHeaders.timestamp], { '!': 'double', value: 2 ** 64 });
  assert.equal(copyProperties(message({ timestamp: 1_700_000_000 }), {}).timestamp, 1_700_000_000);
});

/** A string as amqplib decodes `n` bytes that are not UTF-8: U+FFFD each, 3 bytes of UTF-8. */
const unreadable = (n: number) => '\ufffd'.repeat(n);

test('keys too long to write back move, as [key, value] pairs, to x-unwritable-keys', () => {
  const table = republishable({
    ok: 1,
    [unreadable(86)]: 'v',
    inner: { [unreadable(100)]: { '!': 'bogus' }, [unreadable(85)]: 'fits' },
  });
  assert.deepEqual(table['x-unwritable-keys'], [[unreadable(86), 'v']]);
  const inner = table['inner'] as Record<string, unknown>;
  assert.deepEqual(inner['x-unwritable-keys'], [
    [unreadable(100), { '!': 'object', value: { '!': 'bogus' } }],
  ]);
  assert.equal(inner[unreadable(85)], 'fits');
  assert.equal(encodedTableBytes(table), encode(table).length);
  // One already there is kept, first.
  assert.deepEqual(
    republishable({ 'x-unwritable-keys': 'x', [unreadable(90)]: 1 })['x-unwritable-keys'],
    ['x', [unreadable(90), 1]],
  );
});

test('a copy: short-string properties too long to write back go to x-original-... headers', () => {
  const copy = copyProperties(
    message({ type: unreadable(86), appId: unreadable(85), contentType: unreadable(300) }),
    {},
  );
  assert.equal(copy.type, undefined);
  assert.equal(copy.headers?.['x-original-type'], unreadable(86));
  assert.equal(copy.appId, unreadable(85), 'one that fits stays');
  assert.equal(copy.contentType, undefined);
  assert.equal(copy.headers?.['x-original-content-type'], unreadable(300));
});

test('a message id too long to write back is replaced by one derived from the message', () => {
  const a = messageIdOf(message({ messageId: unreadable(86) }));
  const b = messageIdOf(message({ messageId: unreadable(87) }));
  assert.match(a, /^sha256:[0-9a-f]{32}$/);
  assert.notEqual(a, b, 'derived apart');
  assert.equal(a, messageIdOf(message({ messageId: unreadable(86) })), 'stable');
  assert.equal(messageIdOf(message({ messageId: unreadable(85) })), unreadable(85));
});

/** A table `levels` deep: `{ a: { a: ... 'x' } }`, or arrays when `arrays`. */
function nested(levels: number, arrays = false): unknown {
  let value: unknown = 'x';
  for (let i = 0; i < levels; i++) value = arrays ? [value] : { a: value };
  return value;
}

test('a copy cuts headers nested deeper than maxHeaderDepth: a deep one overflowed the stack in the failure path', () => {
  // 3,000 levels: the walk recursed once a level and threw RangeError (70 at every delivery).
  for (const arrays of [false, true]) {
    const deep = message({ headers: { deep: nested(3000, arrays), keep: nested(3, arrays) } });
    const copy = copyProperties(deep, { 'x-attempt': 2 });
    encode(copy.headers ?? {});
    assert.deepEqual(copy.headers?.['keep'], nested(3, arrays));
    // The cut is at maxHeaderDepth levels below the header.
    let at: unknown = copy.headers?.['deep'];
    for (let i = 0; i < maxHeaderDepth; i++) {
      at = arrays ? (at as unknown[])[0] : (at as { a: unknown }).a;
    }
    assert.equal(at, deeperThan);
  }
  // So is a header too large as well, through the fallback.
  const both = message({ headers: { deep: nested(3000), big: 'x'.repeat(maxCopyHeaderBytes) } });
  encode(copyProperties(both, {}).headers ?? {});
  // Depth within the limit travels whole.
  assert.deepEqual(republishable({ ok: nested(maxHeaderDepth) }), { ok: nested(maxHeaderDepth) });
});

test('a copy carries no CC or BCC: the broker would route it to those queues too (a failure copied itself into the input for ever)', () => {
  const cc = message({ headers: { CC: ['worker-base.events'], BCC: ['results'], cc: 'lower' } });
  const copy = copyProperties(cc, { 'x-attempt': 2 });
  assert.equal(copy.headers?.['CC'], undefined);
  assert.equal(copy.headers?.['BCC'], undefined);
  assert.deepEqual(copy.headers?.[OriginalHeaders.cc], ['worker-base.events']);
  assert.deepEqual(copy.headers?.[OriginalHeaders.bcc], ['results']);
  assert.equal(copy.headers?.['cc'], 'lower', 'the broker reads CC and BCC as written only');
});

test("a copy carries an x-death the broker can read; another goes to x-original-death (RabbitMQ 3.10's dead-lettering crashed on it)", () => {
  const good = [
    { count: 2, queue: 'worker-base.events', reason: 'rejected', 'routing-keys': ['q'] },
  ];
  assert.deepEqual(copyProperties(message({ headers: { 'x-death': good } }), {}).headers, {
    'x-death': good,
  });
  for (const bad of [
    [{ count: 'abc', queue: 'q', reason: 'expired' }],
    [{ count: 1.5, queue: 'q', reason: 'expired' }],
    [{ queue: 'q', reason: 'expired' }],
    [{ count: 1, queue: Buffer.from('q'), reason: 'expired' }],
    ['a', 'b'],
    [[{ count: 1, queue: 'q', reason: 'expired' }]],
    'not an array',
    { count: 1, queue: 'q', reason: 'expired' },
  ]) {
    const copy = copyProperties(message({ headers: { 'x-death': bad } }), {});
    assert.equal(copy.headers?.['x-death'], undefined, JSON.stringify(bad));
    assert.deepEqual(copy.headers?.[OriginalHeaders.death], republishable({ v: bad })['v']);
  }
});

test('a copy whose moved CC, BCC or x-death is too large leaves it out too', () => {
  // They moved to x-original-* names, which the fallback kept whole: the copy stayed over
  // amqplib's 64 KiB, and every delivery ended in 70 (a review helper's finding).
  for (const headers of [
    { CC: ['q'.repeat(70_000)] },
    { BCC: ['q'.repeat(70_000)] },
    { 'x-death': 'd'.repeat(65_400) },
  ]) {
    const copy = copyProperties(message({ headers: { ...headers, 'x-attempt': 2 } }), {
      'x-last-error': 'e'.repeat(500),
    });
    assert.ok(
      encodedTableBytes(copy.headers ?? {}) <= maxCopyHeaderBytes,
      JSON.stringify(headers).slice(0, 20),
    );
    encode(copy.headers ?? {});
    assert.equal(copy.headers?.['x-attempt'], 2);
    assert.match(String(copy.headers?.[OriginalHeaders.headersDropped]), /over the/);
  }
});

test('a copy is persistent even of a transient original, which x-original-delivery-mode records', () => {
  const transient = copyProperties(message({ persistent: false }), {});
  assert.equal(transient.persistent, true);
  assert.equal(transient.headers?.[OriginalHeaders.deliveryMode], 1);
  const persistent = copyProperties(message({ persistent: true }), {});
  assert.equal(persistent.persistent, true);
  assert.equal(persistent.headers?.[OriginalHeaders.deliveryMode], undefined);
});

test("a copy whose x-original-* headers alone are too large keeps the core's fixed names only", () => {
  // 110 headers of 990 bytes under x-original-* names (a client may send 128 KiB): the fallback
  // kept them all, over amqplib's 64 KiB buffer, and the copy threw (70 at every delivery).
  const many = Object.fromEntries(
    Array.from({ length: 110 }, (_, i) => [`x-original-h${String(i)}`, 'v'.repeat(990)]),
  );
  const original = message({
    headers: { ...many, 'x-attempt': 2, 'x-original-message-id': 'id-before' },
  });
  const copy = copyProperties(original, { 'x-failure-reason': 'bad' });
  encode(copy.headers ?? {});
  assert.ok(encodedTableBytes(copy.headers ?? {}) <= maxCopyHeaderBytes);
  assert.equal(copy.headers?.['x-original-h0'], undefined);
  assert.equal(copy.headers?.['x-attempt'], 2);
  assert.equal(copy.headers?.['x-original-message-id'], 'id-before');
  assert.equal(copy.headers?.['x-failure-reason'], 'bad');
  assert.match(String(copy.headers?.[OriginalHeaders.headersDropped]), /over the/);
});
