/**
 * What a delivered message's headers must become to be published again (a retry, the failed
 * copy, the quarantine, a hand-back): values amqplib's encoder takes, saying the same thing.
 *
 * amqplib's decoder and encoder do not round-trip. Another client's headers can hold what its
 * encoder throws on, and a throw there, in the failure path, ended the service (70), after
 * which the broker delivered the message again: a restart loop on one message.
 * - A table with a key named `!` (`{"!": "x", "value": 1}` from pika or Java) is read back as
 *   amqplib's "typed value" escape and throws `Unknown type to encode`; it is wrapped as
 *   `{'!': 'object', value}`, which encodes it as the table it is.
 * - A number that is not a safe integer (NaN, an infinity, -1e30 from a double, an int64 past
 *   2^53) is encoded as an int64 by amqplib, which throws; it is sent as a double.
 * - A decoded timestamp or decimal (`{'!': 'timestamp' | 'decimal', value}`) is kept when the
 *   encoder can write it, else sent as the table it reads as (a uint64 timestamp near its
 *   maximum is read as 2^64, which the encoder throws on).
 * - Tables are copied by their own keys only (see `ownEntries` in amqp-channel.ts).
 * - A key is a short string, at most 255 bytes; amqplib decodes bytes that are not UTF-8 as
 *   U+FFFD (3 bytes each), so a key of 86 such bytes or more cannot be written back. Such
 *   entries move, as `[key, value]` pairs, to an array under `x-unwritable-keys` in the same
 *   table.
 *
 * - Tables and arrays nested deeper than `maxHeaderDepth` are cut there: each value at that
 *   depth becomes `deeperThan` (a string). Walking them (here, in the size count, in amqplib's
 *   encoder) recursed once a level: a header 2,600 tables deep (18 KB) overflowed the stack in
 *   the failure path, 70 at every delivery.
 *
 * amqplib encodes the headers into a 64 KiB scratch buffer and throws past it, and a broker
 * takes tables up to its frame size (128 KiB): `encodedTableBytes` tells the size ahead.
 */

/** Tables and arrays a copy's headers keep nested; deeper values are cut (see above). */
export const maxHeaderDepth = 32;

/** What a value nested deeper than `maxHeaderDepth` becomes on a copy. */
export const deeperThan = `[cut: nested deeper than ${String(maxHeaderDepth)} levels]`;

/** Header bytes a copy may carry: amqplib's 64 KiB buffer less room for a trace context. */
export const maxCopyHeaderBytes = 65_536 - 1024;

/** Where a table's entries with keys too long to write go, as `[key, value]` pairs. */
export const unwritableKeysHeader = 'x-unwritable-keys';

type Table = Record<string, unknown>;

/** True when `text` fits an AMQP short string (a key, most properties): 255 bytes of UTF-8. */
export function fitsShortString(text: string): boolean {
  return text.length <= 85 || Buffer.byteLength(text) <= 255;
}

/** A copy of a decoded header table that amqplib encodes without throwing. */
export function republishable(table: Readonly<Table>, depth = 0): Table {
  const out: Table = {};
  const unwritable: unknown[] = [];
  for (const [key, value] of Object.entries(table)) {
    if (value === undefined) continue;
    if (fitsShortString(key)) out[key] = encodable(value, depth);
    else unwritable.push([key, encodable(value, depth)]);
  }
  if (unwritable.length > 0) {
    const earlier = out[unwritableKeysHeader];
    const kept: unknown[] = Array.isArray(earlier)
      ? earlier
      : earlier === undefined
        ? []
        : [earlier];
    out[unwritableKeysHeader] = [...kept, ...unwritable];
  }
  return out;
}

/** `value` as amqplib encodes it; `depth`: the tables and arrays it sits in. */
function encodable(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isSafeInteger(value) ? value : { '!': 'double', value };
    case 'bigint':
      return { '!': 'double', value: Number(value) };
    case 'object':
      if (value === null || Buffer.isBuffer(value)) return value;
      if (Array.isArray(value)) {
        return depth >= maxHeaderDepth ? deeperThan : value.map((v) => encodable(v, depth + 1));
      }
      if (Object.hasOwn(value, '!') && isTypedValue(value as Table)) return value;
      if (depth >= maxHeaderDepth) return deeperThan;
      if (Object.hasOwn(value, '!')) {
        return { '!': 'object', value: republishable(value as Table, depth + 1) };
      }
      return republishable(value as Table, depth + 1);
    default:
      return String(value);
  }
}

/** A timestamp or decimal as amqplib's decoder makes them, and its encoder can write. */
function isTypedValue(value: Table): boolean {
  if (Object.keys(value).length !== 2 || !Object.hasOwn(value, 'value')) return false;
  const inner = value['value'];
  if (value['!'] === 'timestamp') return isWritableTimestamp(inner);
  if (value['!'] === 'decimal' && typeof inner === 'object' && inner !== null) {
    const { places, digits } = inner as Table;
    return (
      Object.keys(inner).length === 2 &&
      Number.isInteger(places) &&
      (places as number) >= 0 &&
      (places as number) < 256 &&
      Number.isInteger(digits) &&
      (digits as number) >= 0 &&
      (digits as number) <= 0xffff_ffff
    );
  }
  return false;
}

/**
 * A timestamp amqplib writes (as a uint64 through BigInt): an integer from 0 to below 2^64.
 * A uint64 near its maximum is read as the number 2^64 (rounded up), which is not one.
 */
export function isWritableTimestamp(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) < 2 ** 64;
}

/** The size of a `republishable()` table as amqplib encodes it (AMQP 0-9-1 field table). */
export function encodedTableBytes(table: Readonly<Table>): number {
  let bytes = 4;
  for (const [key, value] of Object.entries(table)) {
    if (value !== undefined) bytes += 1 + Buffer.byteLength(key) + valueBytes(value);
  }
  return bytes;
}

/** One field value: its type tag and what follows it. */
function valueBytes(value: unknown): number {
  if (value === null) return 1;
  if (typeof value === 'string') return 5 + Buffer.byteLength(value);
  if (typeof value === 'boolean') return 2;
  if (typeof value === 'number') return 1 + integerBytes(value);
  if (Buffer.isBuffer(value)) return 5 + value.length;
  if (Array.isArray(value)) return 5 + value.reduce((n: number, v) => n + valueBytes(v), 0);
  const typed = value as Table;
  switch (typed['!']) {
    case 'double':
    case 'timestamp':
      return 9;
    case 'decimal':
      return 6;
    case 'object':
      return 1 + encodedTableBytes(typed['value'] as Table);
    default:
      return 1 + encodedTableBytes(typed);
  }
}

/** amqplib's choice for a safe integer: byte, short, int or long. */
function integerBytes(n: number): number {
  if (n >= -0x80 && n < 0x80) return 1;
  if (n >= -0x8000 && n < 0x8000) return 2;
  if (n >= -0x8000_0000 && n < 0x8000_0000) return 4;
  return 8;
}
