import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExitCode, exitCodeFor } from '../../../src/lib/primitives/exit-codes.js';
import {
  ConfigError,
  DependencyError,
  ErrorCodes,
  ShutdownDeadlineError,
  WorkerFailureError,
} from '../../../src/lib/primitives/errors.js';
import {
  deserializeError,
  serializeError,
} from '../../../src/lib/primitives/error-serialization.js';

test('exitCodeFor() maps each cause to its documented exit code', () => {
  assert.equal(exitCodeFor(undefined), ExitCode.OK);
  assert.equal(exitCodeFor(new Error('bug')), ExitCode.APPLICATION_ERROR);
  assert.equal(exitCodeFor(new DependencyError('broker', 'down')), ExitCode.DEPENDENCY_FAILURE);
  assert.equal(exitCodeFor(new ConfigError('bad')), ExitCode.CONFIG_ERROR);
  assert.equal(exitCodeFor(new ShutdownDeadlineError(10)), ExitCode.SHUTDOWN_DEADLINE);
  assert.equal(
    exitCodeFor(new WorkerFailureError(ErrorCodes.WORKER_DIED, 'w', 'died')),
    ExitCode.WORKER_FAILURE,
  );
  assert.equal(
    exitCodeFor(new WorkerFailureError(ErrorCodes.WORKER_HUNG, 'w', 'hung')),
    ExitCode.WORKER_FAILURE,
  );
});

test('a dependency failure reported by a worker thread keeps the dependency exit code', () => {
  const fromWorker = deserializeError(serializeError(new DependencyError('db', 'gone')));
  assert.equal(exitCodeFor(fromWorker), ExitCode.DEPENDENCY_FAILURE);
  const wrapped = new WorkerFailureError(ErrorCodes.WORKER_DIED, 'w', 'died', {
    cause: fromWorker,
  });
  assert.equal(exitCodeFor(wrapped), ExitCode.DEPENDENCY_FAILURE);
});

test('the exit codes are distinct and only a requested stop is 0', () => {
  const values = Object.values(ExitCode);
  assert.equal(new Set(values).size, values.length);
  assert.deepEqual(
    values.filter((v) => v === 0),
    [0],
  );
});
