import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleError, runInScope } from '../../../src/lib/lifecycle/exception-scope.js';
import type { ProcessControl } from '../../../src/lib/lifecycle/process-control.js';
import { DependencyError } from '../../../src/lib/errors.js';
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
  const closed = Object.assign(new Error('Operation was not possible or timed out'), {
    code: 'EAGAIN',
    errno: 11,
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
