import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { guardedDecode, undecodableHeadersHeader } from '../../../src/lib/amqp/decoder-guard.js';

/** amqplib's own decoder, as its protocol module calls it (the table's bytes after its length). */
const require = createRequire(import.meta.url);
const codec = require(join(dirname(require.resolve('amqplib')), 'lib', 'codec.js')) as {
  decodeFields: (slice: Buffer) => Record<string, unknown>;
};

/** The bytes of a table `{ a: { a: ... { a: 'x' } } }`, `levels` tables deep. */
function nestedTable(levels: number): Buffer {
  const leaf = Buffer.from([1, 0x61, 0x53, 0, 0, 0, 1, 0x78]); // a: 'x' (long string)
  const level = 7; // key length, 'a', 'F', the inner table's length
  const bytes = Buffer.alloc(levels * level + leaf.length);
  for (let i = 0; i < levels; i++) {
    const at = i * level;
    bytes.set([1, 0x61, 0x46], at);
    bytes.writeUInt32BE((levels - i - 1) * level + leaf.length, at + 3);
  }
  bytes.set(leaf, levels * level);
  return bytes;
}

test("a header table too deep for amqplib's decoder reads as its bytes, not a stack overflow", () => {
  const deep = nestedTable(20_000);
  // amqplib alone: the overflow that, in its read loop, closed the connection (69 at every
  // delivery of the message).
  assert.throws(() => codec.decodeFields(deep), RangeError);
  const decoded = guardedDecode(codec.decodeFields)(deep);
  assert.deepEqual(Object.keys(decoded), [undecodableHeadersHeader]);
  assert.ok(Buffer.isBuffer(decoded[undecodableHeadersHeader]));
  assert.ok(deep.equals(decoded[undecodableHeadersHeader]), 'the bytes as they came');
});

test('a table the decoder reads is read as amqplib reads it; another error of the decoder stays one', () => {
  const guarded = guardedDecode(codec.decodeFields);
  assert.deepEqual(guarded(nestedTable(2)), { a: { a: { a: 'x' } } });
  const unknownTag = Buffer.from([1, 0x61, 0x5a]); // a: a value of type 'Z'
  assert.throws(() => guarded(unknownTag), /Unexpected type tag "Z"/);
});
