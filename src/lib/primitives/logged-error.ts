import { err as serializeErr } from 'pino-std-serializers';
import { serializeError } from './error-serialization.js';

/**
 * How an `err` is written in a log line, in every thread: pino's own error serializer (type,
 * message, stack with its causes' stacks, every enumerable field), but a cause's message is
 * added to the message only when the message does not hold it already. pino appends every
 * cause's message (`a: b: c`), and an error made from another one usually says what that one
 * said (`zmq socket results-publisher: bind tcp://...: Address already in use`, with the
 * zeromq error as its cause), so the line read `...: Address already in use: Address already
 * in use`. A cause that adds something is still appended, as pino does.
 */
export function serializeLoggedError(value: unknown): unknown {
  // What JSON cannot write (a thrown function): the line had no err at all.
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    return { type: 'NonError', message: serializeError(value).message };
  }
  const out = serializeErr(value as Error) as unknown;
  if (out === value || typeof out !== 'object' || out === null) return out;
  (out as { message: string }).message = messageWithCauses(value as Error);
  return bounded(out as Record<string, unknown>);
}

/** The longest names, texts and stack a logged error keeps; list lengths; nesting. */
const limits = {
  name: 255,
  text: 8 * 1024,
  stack: 16 * 1024,
  aggregateErrors: 10,
  list: 50,
  fields: 50,
  bytes: 32,
  depth: 8,
};

/** How long a logged error's string field may be: a quarter of that inside it. */
function limitOf(key: string, depth: number): number {
  if (key === 'type' || key === 'name' || key === 'code') return limits.name;
  const max = key === 'stack' ? limits.stack : limits.text;
  return depth > 1 ? max / 4 : max;
}

/**
 * A fork's error cut to a size a log line can carry, at any depth: an AggregateError of 10,000
 * errors wrote lines of 7.8 MB, three per failed attempt, and a 200,000-character name came
 * back whole in the `name` field (log shippers and Docker's json-file split or drop lines far
 * shorter). Strings are cut (a stack at 16 KiB, names and codes at 255, any other at 8 KiB; a
 * quarter of that below the top, in an aggregated error or a detail), lists after 50 items
 * (aggregated errors after 10, counted), objects after 50 fields, nesting past 8 levels; bytes
 * (a message body kept on an error: JSON wrote a Buffer as a list of numbers, 4 characters a
 * byte) are shown as their size and first bytes. A class's instance is cut as plain data is,
 * and what writes itself (`toJSON`: a Date, a URL) as what it writes. A copy: pino's output shares the error's
 * own field objects, which are the caller's.
 */
function bounded(out: Record<string, unknown>): Record<string, unknown> {
  const aggregated = out['aggregateErrors'];
  const copy = bound(out, '', 0, new WeakSet()) as Record<string, unknown>;
  if (Array.isArray(aggregated) && aggregated.length > limits.aggregateErrors) {
    copy['aggregateErrorsOmitted'] = aggregated.length - limits.aggregateErrors;
  }
  return copy;
}

function bound(
  value: unknown,
  key: string,
  depth: number,
  seen: WeakSet<object>,
  written = false,
): unknown {
  if (typeof value === 'string') {
    const max = limitOf(key, depth);
    return value.length > max
      ? `${value.slice(0, max)}... (${value.length - max} characters more)`
      : value;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return bytesOf(value);
  const list = Array.isArray(value);
  // What writes itself (a Date, a URL, an AxiosError with its request) is cut as what it
  // writes, called as JSON.stringify would (once, with its key; what that throws, the logger
  // writes as a failed line); any other object is data.
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (!list && !written && typeof toJSON === 'function') {
    return bound((toJSON as (key: string) => unknown).call(value, key), key, depth, seen, true);
  }
  if (seen.has(value)) return '[Circular]';
  if (depth >= limits.depth) return `[cut: nested deeper than ${limits.depth} levels]`;
  seen.add(value);
  if (list) {
    const max = key === 'aggregateErrors' ? limits.aggregateErrors : limits.list;
    const items = value.slice(0, max).map((item: unknown) => bound(item, key, depth + 1, seen));
    if (value.length > max && key !== 'aggregateErrors') {
      items.push(`... (${value.length - max} items more)`);
    }
    return items;
  }
  const copy: Record<string, unknown> = {};
  const entries = Object.entries(value);
  for (const [field, child] of entries.slice(0, limits.fields)) {
    copy[field] = bound(child, field, depth + 1, seen);
  }
  if (entries.length > limits.fields) copy['...'] = `${entries.length - limits.fields} fields more`;
  return copy;
}

/** Bytes as their kind, size and first bytes: `<Buffer 78 78 ... 99968 more bytes>`. */
function bytesOf(value: ArrayBufferView | ArrayBuffer): string {
  const bytes = ArrayBuffer.isView(value)
    ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    : new Uint8Array(value);
  const kind = Buffer.isBuffer(value)
    ? 'Buffer'
    : Object.prototype.toString.call(value).slice('[object '.length, -1);
  const shown = Buffer.from(bytes.subarray(0, limits.bytes))
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
  const more = bytes.length - limits.bytes;
  const tail = more > 0 ? ` ... ${more} more bytes` : '';
  return `<${[kind, shown].filter(Boolean).join(' ')}${tail}>`;
}

/** An error's cause as pino reads it: `cause`, or what a VError-style `cause()` returns. */
function causeOf(error: object): { message: string } | undefined {
  const cause: unknown = (error as { cause?: unknown }).cause;
  const found: unknown = typeof cause === 'function' ? (cause as () => unknown).call(error) : cause;
  const message: unknown = (found as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? (found as { message: string }) : undefined;
}

/** The message, then each cause's that it does not hold already; `...` where causes loop. */
function messageWithCauses(error: Error): string {
  let text = typeof error.message === 'string' ? error.message : '';
  const seen = new Set<object>([error]);
  let cause = causeOf(error);
  while (cause !== undefined) {
    if (seen.has(cause)) return `${text}: ...`;
    seen.add(cause);
    if (!text.includes(cause.message)) text += `: ${cause.message}`;
    cause = causeOf(cause);
  }
  return text;
}
