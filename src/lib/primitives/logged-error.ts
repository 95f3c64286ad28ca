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
 * (aggregated errors after 10, counted), nesting past 8 levels. A copy:
 * pino's output shares the error's own field objects, which are the caller's.
 */
function bounded(out: Record<string, unknown>): Record<string, unknown> {
  const aggregated = out['aggregateErrors'];
  const copy = bound(out, '', 0, new WeakSet()) as Record<string, unknown>;
  if (Array.isArray(aggregated) && aggregated.length > limits.aggregateErrors) {
    copy['aggregateErrorsOmitted'] = aggregated.length - limits.aggregateErrors;
  }
  return copy;
}

function bound(value: unknown, key: string, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') {
    const max = limitOf(key, depth);
    return value.length > max
      ? `${value.slice(0, max)}... (${value.length - max} characters more)`
      : value;
  }
  if (typeof value !== 'object' || value === null) return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  const list = Array.isArray(value);
  // Plain data and pino's serialized errors (a prototype of its own); other objects as they are.
  if (!list && proto !== Object.prototype && proto !== null && !isSerializedError(value)) {
    return value;
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
  for (const [field, child] of Object.entries(value)) {
    copy[field] = bound(child, field, depth + 1, seen);
  }
  return copy;
}

/** Whether `value` is what pino's error serializer made (its own prototype, a `type`). */
function isSerializedError(value: object): boolean {
  return typeof (value as { type?: unknown }).type === 'string' && 'stack' in value;
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
