import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Headers,
  attemptOf,
  decideDisposition,
  errorText,
  failureHeaders,
} from '../../../src/lib/amqp/disposition.js';
import { forgetSecrets, rememberSecret } from '../../../src/lib/primitives/secrets.js';
import { amqpNames } from '../../../src/lib/amqp/amqp-config.js';
import { testConfig } from '../../helpers/core.js';
import { fromAmqplib } from '../../../src/lib/amqp/amqp-errors.js';
import {
  ConfigError,
  DependencyError,
  ErrorCodes,
  PermanentError,
  TransientError,
  WorkerBaseError,
} from '../../../src/lib/primitives/errors.js';
import { classify } from '../../../src/lib/primitives/classify.js';
import {
  deliveryCountHeader,
  deliveryCountOf,
  isRedelivery,
} from '../../../src/lib/amqp/redelivery.js';
import { deliveredMessage } from '../../helpers/amqp-message.js';
import {
  deserializeError,
  serializeError,
} from '../../../src/lib/primitives/error-serialization.js';

/** A first delivery with these headers. */
const amqpMessage = (headers: Record<string, unknown>) => deliveredMessage({ headers });

/** The core's config with the `amqp` section an app adds. */
const config = testConfig;

const retryQueues = [
  { name: 'app.events.retry.100ms', delayMs: 100 },
  { name: 'app.events.retry.300ms', delayMs: 300 },
];

describe('decideDisposition', () => {
  test('a transient failure goes to the next delay queue while delays remain', () => {
    assert.deepEqual(decideDisposition(new TransientError('x'), 1, retryQueues, false), {
      action: 'retry',
      kind: 'transient',
      attempt: 2,
      queue: 'app.events.retry.100ms',
      delayMs: 100,
    });
    const second = decideDisposition(new TransientError('x'), 2, retryQueues, false);
    assert.equal(second.action === 'retry' && second.queue, 'app.events.retry.300ms');
  });

  test('a transient failure of the last attempt fails, saying how many attempts were made', () => {
    assert.deepEqual(decideDisposition(new TransientError('x'), 3, retryQueues, false), {
      action: 'fail',
      kind: 'transient',
      reason: 'gave up after 3 attempts',
    });
  });

  test('a permanent failure fails at once, even during shutdown', () => {
    for (const shuttingDown of [false, true]) {
      const d = decideDisposition(new PermanentError('bad'), 1, retryQueues, shuttingDown);
      assert.equal(d.action, 'fail');
    }
  });

  test('an unexpected error is retried like a transient one', () => {
    const d = decideDisposition(new Error('bug'), 1, retryQueues, false);
    assert.equal(d.action, 'retry');
    assert.equal(d.kind, 'unexpected');
  });

  test('a dependency failure, or any non-permanent failure in shutdown, requeues', () => {
    assert.equal(
      decideDisposition(new DependencyError('rabbitmq', 'gone'), 1, retryQueues, false).action,
      'requeue',
    );
    assert.equal(
      decideDisposition(new TransientError('x'), 1, retryQueues, true).action,
      'requeue',
    );
  });

  test('a configuration error a handler throws requeues, marked for the process to end (78): no retry mends a setting', () => {
    // It was retried and failed as a bug, reported, while the service ran on.
    for (const error of [
      new ConfigError('the work needs a setting'),
      deserializeError(serializeError(new ConfigError('from a worker thread'))),
    ]) {
      assert.deepEqual(decideDisposition(error, 1, retryQueues, false), {
        action: 'requeue',
        kind: 'unexpected',
        config: true,
      });
    }
  });

  test('errors rebuilt after a thread hop decide the same', () => {
    for (const error of [new TransientError('t'), new PermanentError('p')]) {
      const rebuilt = deserializeError(serializeError(error));
      assert.deepEqual(
        decideDisposition(rebuilt, 1, retryQueues, false),
        decideDisposition(error, 1, retryQueues, false),
      );
    }
  });

  test('with no retry delays configured, a transient failure fails at once', () => {
    assert.equal(decideDisposition(new TransientError('x'), 1, [], false).action, 'fail');
  });
});

describe('attempt and failure headers', () => {
  test('attemptOf reads x-attempt and defaults to 1 for absent or malformed values', () => {
    assert.equal(attemptOf({}, 4), 1);
    assert.equal(attemptOf({ [Headers.attempt]: 3 }, 4), 3);
    assert.equal(attemptOf({ [Headers.attempt]: 'nonsense' }, 4), 1);
    assert.equal(attemptOf({ [Headers.attempt]: 0 }, 4), 1);
    assert.equal(attemptOf({ [Headers.attempt]: '2' }, 4), 2);
  });

  test("attemptOf is at most the last attempt: a producer's x-attempt cannot make it more", () => {
    // 999999999999999 went to the failed queue as 'gave up after 999999999999999 attempts'.
    assert.equal(attemptOf({ [Headers.attempt]: 999_999_999_999_999 }, 4), 4);
    assert.equal(attemptOf({ [Headers.attempt]: 5 }, 4), 4);
    assert.equal(attemptOf({ [Headers.attempt]: 3 }, 1), 1);
  });

  test('a header table no value can be made of (its toString a number) reads as absent, never throws', () => {
    // amqplib decodes another client's {"toString": 1} table into such an object; Number() threw
    // on it in the consume callback, which took the connection down, again after each restart.
    const table = { toString: 1, valueOf: 2 };
    assert.throws(() => Number(table), TypeError);
    for (const value of [table, [table], Buffer.from('3'), true, null, 2.5, -1, '1e3', ' 3']) {
      assert.equal(attemptOf({ [Headers.attempt]: value }, 4), 1, JSON.stringify(value));
      const message = amqpMessage({ [deliveryCountHeader]: value });
      assert.equal(deliveryCountOf(message), undefined, JSON.stringify(value));
      assert.equal(isRedelivery(message), false);
    }
    assert.equal(deliveryCountOf(amqpMessage({ [deliveryCountHeader]: 2 })), 2);
    assert.equal(isRedelivery(amqpMessage({ [deliveryCountHeader]: '1' })), true);
  });

  test('failureHeaders names the reason, error class, code, kind, attempts and original queue', () => {
    const error = deserializeError(serializeError(new TransientError('flaky')));
    const headers = failureHeaders(
      error,
      { action: 'fail', kind: 'transient', reason: 'gave up after 3 attempts' },
      3,
      'app.events',
    );
    assert.equal(headers[Headers.reason], 'gave up after 3 attempts: flaky');
    assert.equal(headers[Headers.errorClass], 'TransientError');
    assert.equal(headers[Headers.errorCode], ErrorCodes.TRANSIENT);
    assert.equal(headers[Headers.errorKind], 'transient');
    assert.equal(headers[Headers.attempts], 3);
    assert.equal(headers[Headers.originalQueue], 'app.events');
  });
});

test("a fork's error class and code on a failed copy are masked and bounded: a 200,000-character name made it unpublishable", () => {
  const error = new Error('long') as Error & { code: string };
  error.name = 'N'.repeat(200_000);
  error.code = 'E_FORK https://svc:CodePw42xyz@api.example/';
  const headers = failureHeaders(
    error,
    { action: 'fail', kind: 'unexpected', reason: 'gave up after 3 attempts' },
    3,
    'app.events',
  );
  assert.equal(headers[Headers.errorClass], 'N'.repeat(255));
  assert.equal(headers[Headers.errorCode], 'E_FORK https://svc:[Redacted]@api.example/');
});

test('error texts on headers have their secrets masked: the broker is outside the process', (t) => {
  rememberSecret('remembered-s3cret');
  t.after(forgetSecrets);
  const error = new TransientError(
    'cannot reach https://user:hunter2pass@api.example/ with remembered-s3cret',
  );
  const headers = failureHeaders(
    error,
    { action: 'fail', kind: 'transient', reason: 'gave up after 3 attempts' },
    3,
    'app.events',
  );
  assert.equal(
    headers[Headers.reason],
    'gave up after 3 attempts: cannot reach https://user:[Redacted]@api.example/ with [Redacted]',
  );
  assert.equal(errorText(error, 30), 'cannot reach https://user:[Red');
});

describe('amqp configuration', () => {
  test('names default to <app>.events, <app>.results, <app>.failed, the quarantine, and delay queues per delay', () => {
    const c = config({ APP_NAME: 'orders' });
    assert.deepEqual(amqpNames(c.app.name, c.amqp), {
      exchange: 'orders',
      inputQueue: 'orders.events',
      resultsQueue: 'orders.results',
      failedQueue: 'orders.failed',
      quarantineQueue: 'orders.events.quarantine',
      queueType: 'quorum',
      deliveryLimit: 5,
      retryQueues: [
        { name: 'orders.events.retry.60000ms', delayMs: 60_000 },
        { name: 'orders.events.retry.180000ms', delayMs: 180_000 },
        { name: 'orders.events.retry.540000ms', delayMs: 540_000 },
      ],
    });
    assert.equal(c.amqp.url, '', 'AMQP is off by default');
  });

  test('AMQP_QUEUE_TYPE=classic has no quarantine; a bad queue type or limit names its variable', () => {
    const c = config({ AMQP_QUEUE_TYPE: 'classic', AMQP_DELIVERY_LIMIT: '3' });
    const names = amqpNames(c.app.name, c.amqp);
    assert.equal(names.queueType, 'classic');
    assert.equal(names.quarantineQueue, undefined);
    assert.equal(names.deliveryLimit, 3);
    assert.throws(() => config({ AMQP_QUEUE_TYPE: 'stream' }), /AMQP_QUEUE_TYPE/);
    assert.throws(() => config({ AMQP_DELIVERY_LIMIT: '0' }), /AMQP_DELIVERY_LIMIT/);
  });

  test('environment variables override names, prefetch and delays', () => {
    const c = config({
      AMQP_URL: 'amqp://u:p@broker:5672/v',
      AMQP_PREFETCH: '7',
      AMQP_RETRY_DELAYS_MS: '10, 20,30',
      AMQP_INPUT_QUEUE: 'in',
      AMQP_RESULTS_QUEUE: 'out',
      AMQP_FAILED_QUEUE: 'dead',
    });
    assert.equal(c.amqp.prefetch, 7);
    assert.deepEqual(c.amqp.retryDelaysMs, [10, 20, 30]);
    const names = amqpNames(c.app.name, c.amqp);
    assert.deepEqual(
      [names.inputQueue, names.resultsQueue, names.failedQueue],
      ['in', 'out', 'dead'],
    );
    assert.equal(names.retryQueues[0]?.name, 'in.retry.10ms');
  });

  test('AMQP_URL may come from the file AMQP_URL_FILE names', async (t) => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(`${tmpdir()}/amqp-url-`);
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(`${dir}/url`, 'amqp://secret:pw@broker/\n');
    assert.equal(config({ AMQP_URL_FILE: `${dir}/url` }).amqp.url, 'amqp://secret:pw@broker/');
  });

  test('a malformed value is a config error naming the variable and the expected form', () => {
    assert.throws(
      () => config({ AMQP_RETRY_DELAYS_MS: '100,soon' }),
      /amqp.retryDelaysMs \(environment AMQP_RETRY_DELAYS_MS\) = \"100,soon\".*comma-separated retry delays/,
    );
    assert.throws(
      () => config({ AMQP_URL: 'http://broker' }),
      /AMQP_URL.*amqp:\/\/user:password@host/s,
    );
    assert.throws(() => config({ AMQP_PREFETCH: '0' }), /AMQP_PREFETCH/);
  });
});

describe('classify and amqplib errors', () => {
  test('amqplib channel and connection errors, made ours where they enter, are dependency failures', () => {
    const closed = Object.assign(new Error('Channel closed by server: 404 (NOT-FOUND)'), {
      code: 404,
      classId: 60,
      methodId: 40,
    });
    const illegal = Object.assign(new Error('Channel closed'), { name: 'IllegalOperationError' });
    assert.equal(classify(fromAmqplib('consume', closed)), 'dependency');
    assert.equal(classify(fromAmqplib('ack', illegal)), 'dependency');
    assert.equal(classify(new WorkerBaseError('E_OTHER', 'x')), 'unexpected');
  });
});
