import { WorkerBaseError, fieldOf } from './errors.js';
const { inspect } = process.getBuiltinModule('node:util');

/**
 * The explicit serialisation of errors at thread boundaries: `postMessage` drops classes and
 * custom fields, so an error crosses as `{ name, code, message, stack, retryable, ... }` and
 * is rebuilt on the other side, where `classify()` gives the same answer.
 */

/** The plain shape an error takes across a thread boundary. */
export interface SerializedError {
  name: string;
  code?: string;
  message: string;
  stack?: string;
  retryable?: boolean;
  errno?: number;
  /** HttpError's status: classify() needs it on both sides. */
  status?: number;
  dependency?: string;
  worker?: string;
  cause?: SerializedError;
}

/**
 * Turns any thrown value into a structured-clone-safe object, causes included (depth 5). Never
 * throws: a value that cannot be read (a function whose `toString` throws, a Proxy whose traps
 * do) says so. It threw, and a fork's `throw` of one lost its message's reason at every step
 * that serialises (the worker's answer, the failed copy's headers): 70 at every delivery.
 */
export function serializeError(error: unknown, depth = 0): SerializedError {
  try {
    return serializeReadable(error, depth);
  } catch {
    return { name: 'NonError', message: `a thrown ${typeof error} that cannot be read` };
  }
}

function serializeReadable(error: unknown, depth: number): SerializedError {
  if (typeof error !== 'object' || error === null) {
    return { name: 'NonError', message: String(error) };
  }
  const name = fieldOf(error, 'name');
  const message = fieldOf(error, 'message');
  const out: SerializedError = {
    name: typeof name === 'string' ? name : 'Error',
    message: typeof message === 'string' ? message : describeObject(error),
  };
  for (const key of ['code', 'stack', 'dependency', 'worker'] as const) {
    const value = fieldOf(error, key);
    if (typeof value === 'string') out[key] = value;
  }
  const retryable = fieldOf(error, 'retryable');
  if (typeof retryable === 'boolean') out.retryable = retryable;
  for (const key of ['errno', 'status'] as const) {
    const value = fieldOf(error, key);
    if (typeof value === 'number') out[key] = value;
  }
  const cause = fieldOf(error, 'cause');
  if (cause !== undefined && depth < 5) out.cause = serializeError(cause, depth + 1);
  return out;
}

/** Rebuilds an Error from its serialised form; `classify()` gives the same answer on both sides. */
export function deserializeError(data: SerializedError): Error {
  const cause = data.cause === undefined ? undefined : deserializeError(data.cause);
  const error = (
    data.code === undefined
      ? new Error(data.message, cause === undefined ? undefined : { cause })
      : new WorkerBaseError(data.code, data.message, { cause, retryable: data.retryable })
  ) as Error & Record<string, unknown>;
  error.name = data.name;
  if (data.stack !== undefined) error.stack = data.stack;
  if (data.errno !== undefined) error['errno'] = data.errno;
  if (data.status !== undefined) error['status'] = data.status;
  if (data.dependency !== undefined) error['dependency'] = data.dependency;
  if (data.worker !== undefined) error['worker'] = data.worker;
  return error;
}

/** An object with no message, as text: its JSON, or Node's inspection of it (a cycle, say). */
function describeObject(value: object): string {
  try {
    return JSON.stringify(value);
  } catch {
    return inspect(value, { depth: 2, breakLength: Infinity });
  }
}
