import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { once } from 'node:events';
import { PolicyRejectedError } from '../../../src/lib/resilience/policies.js';
import { SocketClosedError } from '../../../src/lib/zmq/socket-registry.js';
import {
  DependencyError,
  PermanentError,
  TransientError,
} from '../../../src/lib/primitives/errors.js';
import { classify } from '../../../src/lib/primitives/classify.js';
import {
  deserializeError,
  serializeError,
  type SerializedError,
} from '../../../src/lib/primitives/error-serialization.js';

test('classify() gives one answer per kind of error', () => {
  const closed = new SocketClosedError('zmq socket s: receive: Socket is closed');
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  const timeout = new DOMException('The operation timed out', 'TimeoutError');
  const table: Array<[unknown, string]> = [
    [new DependencyError('broker', 'refused'), 'dependency'],
    [closed, 'socket-closed'],
    [new PolicyRejectedError('api', 'circuit-open'), 'transient'],
    [new TransientError('busy'), 'transient'],
    [reset, 'transient'],
    [timeout, 'transient'],
    [new PermanentError('bad input'), 'permanent'],
    [new TypeError('x is not a function'), 'unexpected'],
    ['a string', 'unexpected'],
    [undefined, 'unexpected'],
  ];
  for (const [error, kind] of table) assert.equal(classify(error), kind, String(error));
});

test('an error sent through a real MessagePort keeps its class decision, code and cause', async () => {
  const { port1, port2 } = new MessageChannel();
  const original = new DependencyError('broker', 'connection refused', {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
  });
  port1.postMessage(serializeError(original));
  const [data] = (await once(port2, 'message')) as [SerializedError];
  port1.close();
  const rebuilt = deserializeError(data);
  assert.equal(classify(rebuilt), 'dependency');
  assert.equal(rebuilt.name, 'DependencyError');
  assert.equal(rebuilt.message, original.message);
  assert.equal(rebuilt.stack, original.stack);
  assert.equal((rebuilt as { retryable?: boolean }).retryable, true);
  assert.equal((rebuilt.cause as { code?: string }).code, 'ECONNREFUSED');
  assert.equal(classify(rebuilt.cause), 'transient');
});

test('serializeError() accepts non-errors and stops at a cause cycle', () => {
  assert.deepEqual(serializeError('boom'), { name: 'NonError', message: 'boom' });
  const a = new Error('a') as Error & { cause?: unknown };
  a.cause = a;
  let depth = 0;
  for (let s: SerializedError | undefined = serializeError(a); s; s = s.cause) depth++;
  assert.equal(depth, 6);
});

test('serializeError() and classify() never throw on hostile causes', () => {
  // die(cause) serialises the cause to send it to main, and classify() decides what the
  // exception scope does: an object with a cycle and no message, or an error whose fields'
  // getters throw, must still cross the thread and be decided, not throw in the handler.
  const cyclic: Record<string, unknown> = { what: 'no message here' };
  cyclic['self'] = cyclic;
  const cyclicOut = serializeError(cyclic);
  assert.equal(cyclicOut.name, 'Error');
  assert.equal(typeof cyclicOut.message, 'string');
  const hostile = new Error('fields that throw');
  for (const field of ['code', 'cause', 'retryable', 'status', 'name']) {
    Object.defineProperty(hostile, field, {
      get() {
        throw new Error(`getter ${field}`);
      },
    });
  }
  const out = serializeError(hostile);
  assert.equal(out.message, 'fields that throw');
  assert.equal(out.code, undefined);
  assert.equal(classify(hostile), 'unexpected');
});

test('serializeError() never throws, even on a value nothing can read: it says so', () => {
  // A function whose toString throws, a Proxy whose traps throw: serialising one threw, at the
  // worker's answer and at the failed copy's headers, and the message crashed every delivery.
  const unreadable = (): void => undefined;
  unreadable.toString = () => {
    throw new Error('no toString');
  };
  const trap = (): never => {
    throw new Error('trap');
  };
  const proxy = new Proxy({}, { get: trap, getPrototypeOf: trap, has: trap, ownKeys: trap });
  const revocable = Proxy.revocable({}, {});
  revocable.revoke();
  assert.deepEqual(serializeError(unreadable), {
    name: 'NonError',
    message: 'a thrown function that cannot be read',
  });
  // Proxies read as what can be read of them (instanceof Error ran their trap, and threw).
  assert.deepEqual(serializeError(proxy), { name: 'Error', message: '{}' });
  assert.deepEqual(serializeError(revocable.proxy), { name: 'Error', message: '<Revoked Proxy>' });
  const error = new Error('readable, its cause not', { cause: unreadable });
  assert.equal(serializeError(error).cause?.message, 'a thrown function that cannot be read');
});
