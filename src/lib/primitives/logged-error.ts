import { err as serializeErr } from 'pino-std-serializers';

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
  const out = serializeErr(value as Error) as unknown;
  if (out === value || typeof out !== 'object' || out === null) return out;
  (out as { message: string }).message = messageWithCauses(value as Error);
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
