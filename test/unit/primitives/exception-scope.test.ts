import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  handleError,
  isShutdownNoise,
  runInScope,
} from '../../../src/lib/primitives/exception-scope.js';
import type { ProcessControl } from '../../../src/lib/primitives/process-control.js';
import {
  ConfigError,
  DependencyError,
  ErrorCodes,
  WorkerBaseError,
} from '../../../src/lib/primitives/errors.js';
import { ExitCode, exitCodeFor } from '../../../src/lib/primitives/exit-codes.js';
import { AmqpChannelClosedError, fromAmqplib } from '../../../src/lib/amqp/amqp-errors.js';
import { SocketClosedError } from '../../../src/lib/zmq/socket-registry.js';
import { captureLogger } from '../../helpers/core.js';

function control(aborted = false) {
  const died: unknown[] = [];
  const reported: unknown[] = [];
  const controller = new AbortController();
  if (aborted) controller.abort();
  const c: ProcessControl = {
    signal: controller.signal,
    die: (e) => void died.push(e),
    report: (e) => void reported.push(e),
  };
  return { c, died, reported };
}

test('a dependency failure is a warning, not a report, and ends the process', () => {
  const { log, sink } = captureLogger();
  const { c, died, reported } = control();
  const error = new DependencyError('broker', 'refused');
  assert.equal(handleError(error, { name: 't', log, control: c }).handling, 'dependency');
  assert.deepEqual(died, [error]);
  assert.deepEqual(reported, []);
  assert.equal(sink.lines[0]?.['level'], 'warn');
});

test('a configuration error found while running is an error line, not a report, and ends the process with 78', () => {
  const { log, sink } = captureLogger();
  const { c, died, reported } = control();
  const error = new ConfigError('health endpoint: 127.0.0.1:8080 is in use; set HEALTH_PORT');
  assert.equal(handleError(error, { name: 't', log, control: c }).handling, 'config');
  assert.deepEqual(died, [error]);
  assert.deepEqual(reported, []);
  assert.deepEqual(
    [sink.lines[0]?.['level'], sink.lines[0]?.['msg']],
    ['error', 'configuration error'],
  );
  assert.equal(exitCodeFor(died[0]), ExitCode.CONFIG_ERROR);
});

test('any other error is logged with its stack, reported, and ends the process', () => {
  const { log, sink } = captureLogger();
  const { c, died, reported } = control();
  const error = new TypeError('undefined is not a function');
  assert.equal(handleError(error, { name: 't', log, control: c }).handling, 'reported');
  assert.deepEqual(died, [error]);
  assert.deepEqual(reported, [error]);
  assert.equal(sink.lines[0]?.['level'], 'error');
  assert.match(String((sink.lines[0]?.['err'] as { stack?: string }).stack), /TypeError/);
});

test('a socket closed under a receive during shutdown is only a debug line', () => {
  const { log, sink } = captureLogger();
  const { c, died, reported } = control(true);
  const closed = new SocketClosedError('zmq socket s: receive: Operation was not possible', {
    cause: Object.assign(new Error('Operation was not possible or timed out'), {
      code: 'EAGAIN',
      errno: 11,
    }),
  });
  assert.deepEqual(handleError(closed, { name: 't', log, control: c }), {
    handling: 'ignored',
    kind: 'socket-closed',
  });
  assert.deepEqual([died, reported], [[], []]);
  assert.equal(sink.lines[0]?.['level'], 'debug');
});

test('runInScope() swallows or re-raises as told, and always closes its resources', async () => {
  const { log } = captureLogger();
  const { c, died } = control();
  const closed: string[] = [];
  const resources = [
    { close: () => void closed.push('a') },
    { close: () => void closed.push('b') },
  ];
  const result = await runInScope(
    () => {
      throw new Error('x');
    },
    { name: 's', log, control: c, onError: 'swallow', close: resources },
  );
  assert.equal(result, undefined);
  assert.deepEqual(died, []);
  assert.deepEqual(closed, ['b', 'a']);
  await assert.rejects(
    runInScope(() => Promise.reject(new Error('y')), {
      name: 's',
      log,
      control: c,
      onError: 'rethrow',
    }),
    /y/,
  );
  assert.equal(await runInScope(() => 42, { name: 's', log, control: c }), 42);
});

test('an application error during shutdown is an error: logged, reported, and it dies', () => {
  const { log, sink } = captureLogger();
  const { c, died, reported } = control(true);
  const error = new TypeError('undefined is not a function');
  assert.equal(handleError(error, { name: 't', log, control: c }).handling, 'reported');
  assert.deepEqual([died, reported], [[error], [error]]);
  assert.equal(sink.lines[0]?.['level'], 'error');
  assert.equal(sink.lines[0]?.['duringShutdown'], true);
});

test('the noise of closing things during shutdown stays at debug', () => {
  const { log, sink } = captureLogger();
  const { c, died, reported } = control(true);
  const noise = [
    new SocketClosedError('zmq socket s: send: Socket is closed'),
    new WorkerBaseError(ErrorCodes.THREAD_CHANNEL_CLOSED, 'thread channel main<->x is closed'),
    new AmqpChannelClosedError('publish on channel publish: channel closed'),
    fromAmqplib(
      'ack on channel consume',
      Object.assign(new Error('Channel closed'), { name: 'IllegalOperationError' }),
    ),
    // A closed channel as the cause of another error (a wrapper of ours).
    new DependencyError('amqp', 'declare failed', {
      cause: new AmqpChannelClosedError('declare queue q: channel closed'),
    }),
    new DOMException('This operation was aborted', 'AbortError'),
    // A wait the shutdown itself cancelled: its cause is the signal's own reason.
    new DependencyError('amqp', 'cannot connect: stop requested', { cause: c.signal.reason }),
  ];
  for (const error of noise) {
    assert.equal(handleError(error, { name: 't', log, control: c }).handling, 'ignored');
  }
  assert.deepEqual([died, reported], [[], []]);
  assert.deepEqual(
    sink.lines.map((l) => l['level']),
    noise.map(() => 'debug'),
  );
});

test('isShutdownNoise() looks along the cause chain, and not at unrelated errors', () => {
  const reason = new Error('stop requested: SIGTERM');
  assert.equal(isShutdownNoise(new Error('outer', { cause: reason }), reason), true);
  assert.equal(isShutdownNoise(new Error('stop requested: SIGTERM'), reason), false);
  assert.equal(isShutdownNoise(new TypeError('x'), reason), false);
  // A dependency failure that is not a closed channel stays a failure during a shutdown.
  assert.equal(isShutdownNoise(new DependencyError('amqp', 'Heartbeat timeout'), reason), false);
});

test('an error that cannot be logged is still handled: a line, a report, and it dies', () => {
  // An error with an enumerable getter that throws (a library's lazy field, a proxy): the
  // error serializer reads every enumerable field, so logging it throws. handleError never
  // throws: in an uncaught-exception handler that would end the process with no controlled
  // shutdown (Node's exit code 7).
  const { log, sink } = captureLogger();
  const { c, died, reported } = control();
  const error = new Error('the real failure');
  Object.defineProperty(error, 'details', {
    enumerable: true,
    get() {
      throw new Error('a getter that throws');
    },
  });
  const dependency = new DependencyError('broker', 'gone');
  Object.defineProperty(dependency, 'details', {
    enumerable: true,
    get() {
      throw new Error('a getter that throws');
    },
  });
  assert.equal(handleError(error, { name: 'loop', log, control: c }).handling, 'reported');
  assert.equal(handleError(dependency, { name: 'loop', log, control: c }).handling, 'dependency');
  assert.deepEqual(died, [error, dependency]);
  assert.deepEqual(reported, [error]);
  assert.deepEqual(
    sink.lines.map((l) => [l['level'], l['msg'], l['scope'], l['kind']]),
    [
      ['error', 'application error', 'loop', 'unexpected'],
      ['warn', 'dependency failure', 'loop', 'dependency'],
    ],
  );
  // What could be written of the error: its type and message, and why the rest could not.
  assert.match(String(sink.lines[0]?.['error']), /Error: the real failure/);
  assert.match(String(sink.lines[0]?.['logFailure']), /a getter that throws/);
});
