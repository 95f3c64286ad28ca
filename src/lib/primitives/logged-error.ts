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

/** The longest names, texts and stack a logged error keeps, and how many aggregated errors. */
const limits = { name: 255, text: 8 * 1024, stack: 16 * 1024, aggregateErrors: 10 };

/** How long a logged error's string field may be. */
function limitOf(key: string): number {
  if (key === 'stack') return limits.stack;
  return key === 'type' || key === 'name' || key === 'code' ? limits.name : limits.text;
}

/**
 * A fork's error cut to a size a log line can carry: an AggregateError of 10,000 errors wrote
 * lines of 7.8 MB, three per failed attempt, and a 200,000-character name came back whole in
 * the `name` field (log shippers and Docker's json-file split or drop lines far shorter). Each
 * string field is cut (the stack at 16 KiB, names and codes at 255, any other at 8 KiB), and
 * the aggregated errors after the first 10.
 */
function bounded(out: Record<string, unknown>): Record<string, unknown> {
  for (const [key, text] of Object.entries(out)) {
    const max = limitOf(key);
    if (typeof text === 'string' && text.length > max) {
      out[key] = `${text.slice(0, max)}... (${text.length - max} characters more)`;
    }
  }
  const aggregated = out['aggregateErrors'];
  if (Array.isArray(aggregated) && aggregated.length > limits.aggregateErrors) {
    out['aggregateErrors'] = aggregated.slice(0, limits.aggregateErrors);
    out['aggregateErrorsOmitted'] = aggregated.length - limits.aggregateErrors;
  }
  return out;
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
