import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCodes, HttpError } from '../../../src/lib/primitives/errors.js';
import { classify } from '../../../src/lib/primitives/classify.js';
import { Policies, PolicyRejectedError } from '../../../src/lib/resilience/policies.js';
import * as door from '../../../src/lib/index.js';
import type { PolicyConfig, PolicyOverride } from '../../../src/lib/resilience/policy-config.js';
import { PolicyMetrics } from '../../../src/lib/resilience/policy-monitor.js';
import { FlakyServer } from '../../helpers/flaky-server.js';
import { captureLogger } from '../../helpers/core.js';
import { RecordingMetrics } from '../../helpers/recording-metrics.js';

const base: PolicyConfig = {
  maxAttempts: 1,
  baseDelayMs: 10,
  maxDelayMs: 10_000,
  jitter: 'half',
  timeoutMs: 2_000,
  breakerThreshold: 0,
  halfOpenAfterMs: 1_000,
  concurrency: 0,
  queue: 0,
  critical: false,
  maxOpenMs: 60_000,
};

const server = new FlakyServer();
before(() => server.start('policies.test'));
after(() => server.stop());

/** A policy named `api` with `overrides`, its log, metrics, shutdown controller and deaths. */
function setUp(overrides: PolicyOverride) {
  const { log, sink } = captureLogger('debug');
  const named = (msg: string): unknown[] => sink.lines.filter((l) => l['msg'] === msg);
  const metrics = new RecordingMetrics();
  const shutdown = new AbortController();
  const deaths: unknown[] = [];
  let onDeath: (() => void) | undefined;
  const died = new Promise<void>((resolve) => (onDeath = resolve));
  const policies = new Policies({
    config: { default: base, api: overrides },
    log,
    metrics,
    control: {
      signal: shutdown.signal,
      die: (cause) => {
        deaths.push(cause);
        onDeath?.();
      },
    },
  });
  const waitFor = (msg: string) => sink.waitFor(msg);
  return { policy: policies.get('api'), policies, named, waitFor, metrics, shutdown, deaths, died };
}

/** The outbound call under test: a real fetch, non-2xx -> HttpError. */
async function call(signal: AbortSignal): Promise<number> {
  const response = await fetch(server.url, { method: 'POST', body: '{}', signal });
  await response.arrayBuffer();
  if (!response.ok) throw new HttpError(response.status, 'POST /hook');
  return response.status;
}

/** cockatiel marks its errors with a boolean field (their `name` stays 'Error'). */
function marker(error: unknown, field: string): unknown {
  return (error as Record<string, unknown>)[field];
}

/**
 * True for a PolicyRejectedError of `reason` whose cause is cockatiel's own error (carrying
 * `field`): what cockatiel threw, made ours where it was called.
 */
function rejectedBecause(error: unknown, reason: string, field: string): boolean {
  return (
    error instanceof PolicyRejectedError &&
    error.code === ErrorCodes.POLICY_REJECTED &&
    error.reason === reason &&
    marker(error.cause, field) === true
  );
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

describe('resilience policies', () => {
  test('retries transient failures with growing, jittered delays and stops at the limit', async () => {
    const { policy, metrics, named } = setUp({ maxAttempts: 4, baseDelayMs: 100 });
    server.plan([], 503);
    const first = server.requests.length;
    const error = await rejection(policy.execute(call));
    assert.ok(error instanceof HttpError);
    assert.equal(error.status, 503);
    const requests = server.requests.slice(first);
    assert.equal(requests.length, 4, 'four attempts in all, then it gives up');

    const delays = metrics.values(PolicyMetrics.RETRY_DELAY);
    assert.equal(delays.length, 3);
    const nominal = [100, 200, 400];
    delays.forEach((d, i) => {
      const full = nominal[i] ?? 0;
      assert.ok(d >= full / 2 && d < full, `delay ${i} = ${d}, expected in [${full / 2}, ${full})`);
    });
    assert.ok(delays[0]! < delays[1]! && delays[1]! < delays[2]!, `growing: ${delays.join(', ')}`);
    assert.notDeepEqual(delays, [50, 100, 200], 'jittered, not the bare half');
    for (let i = 1; i < requests.length; i++) {
      const gap = requests[i]!.at - requests[i - 1]!.at;
      assert.ok(gap >= delays[i - 1]! - 2, `gap ${i} = ${gap} ms, delay ${delays[i - 1]} ms`);
    }
    assert.deepEqual(metrics.values(PolicyMetrics.RETRY), [1, 1, 1]);
    assert.deepEqual(metrics.values(PolicyMetrics.GIVE_UP), [1]);
    assert.equal(named('dependency call failed; retrying').length, 1, 'one warning per spell');
    assert.equal(named('retrying').length, 2, 'later retries at debug');
    assert.equal(named('dependency call gave up').length, 1);
  });

  test('logs a failing spell once and its recovery once, however many calls fail', async () => {
    const { policy, named, waitFor } = setUp({ maxAttempts: 2, baseDelayMs: 5 });
    server.plan([], 500);
    for (let i = 0; i < 3; i++) await rejection(policy.execute(call));
    server.plan([], 200);
    assert.equal(await policy.execute(call), 200);
    assert.equal(await policy.execute(call), 200);
    await waitFor('dependency calls succeed again');
    assert.equal(named('dependency call failed; retrying').length, 1);
    assert.equal(named('dependency call gave up').length, 1);
    assert.equal(named('gave up').length, 2);
    assert.equal(named('dependency calls succeed again').length, 1);
  });

  test('does not retry a permanent failure', async () => {
    const { policy, metrics } = setUp({ maxAttempts: 5, baseDelayMs: 5 });
    server.plan([404], 200);
    const first = server.requests.length;
    const error = await rejection(policy.execute(call));
    assert.equal(classify(error), 'permanent');
    assert.equal(server.requests.length - first, 1);
    assert.deepEqual(metrics.values(PolicyMetrics.RETRY), []);
  });

  test('the breaker opens after the threshold, fails fast while open, half-opens after the delay and closes on success', async () => {
    const { policy, policies, metrics, waitFor } = setUp({
      breakerThreshold: 3,
      halfOpenAfterMs: 300,
    });
    server.plan([], 503);
    const first = server.requests.length;
    for (let i = 0; i < 3; i++) await rejection(policy.execute(call));
    await waitFor('breaker opened');
    assert.equal(policy.state, 'open');
    const scraped = new RecordingMetrics();
    policies.recordStates(scraped);
    assert.deepEqual(
      scraped.records.map((r) => [r.name, r.tags['state'], r.value]),
      [
        ['policy_breaker_state', 'closed', 0],
        ['policy_breaker_state', 'open', 1],
        ['policy_breaker_state', 'half-open', 0],
      ],
    );

    const started = performance.now();
    const fast = await rejection(policy.execute(call));
    assert.ok(rejectedBecause(fast, 'circuit-open', 'isBrokenCircuitError'));
    assert.equal(classify(fast), 'transient');
    assert.ok(performance.now() - started < 50, 'fails fast');
    assert.equal(server.requests.length - first, 3, 'no request reaches the server while open');

    await delay(350); // the half-open delay itself is what is under test
    server.plan([], 200);
    assert.equal(await policy.execute(call), 200);
    await waitFor('breaker closed');
    assert.equal(policy.state, 'closed');
    const states = metrics.records
      .filter((r) => r.name === PolicyMetrics.BREAKER)
      .map((r) => r.tags['state']);
    assert.deepEqual(states, ['open', 'half-open', 'closed']);
  });

  test('a timeout aborts the request: the server sees the connection dropped', async () => {
    const { policy, metrics } = setUp({ timeoutMs: 200 });
    server.plan(['hang'], 200);
    const first = server.requests.length;
    const started = performance.now();
    const error = await rejection(policy.execute(call));
    const took = performance.now() - started;
    assert.ok(rejectedBecause(error, 'timeout', 'isTaskCancelledError'));
    assert.equal(classify(error), 'transient');
    assert.ok(took >= 195 && took < 1_500, `rejected after ${Math.round(took)} ms`);
    const request = server.requests[first];
    assert.ok(request);
    assert.equal(await request.aborted, true, 'the server saw the client abort');
    assert.deepEqual(metrics.values(PolicyMetrics.TIMEOUT), [1]);
  });

  test('a timed-out attempt is retried, and counts as a failure for the breaker', async () => {
    const { policy, metrics } = setUp({
      timeoutMs: 200,
      maxAttempts: 2,
      baseDelayMs: 5,
      breakerThreshold: 1,
    });
    server.plan(['hang'], 200);
    const first = server.requests.length;
    // The timeout (cockatiel's TaskCancelledError, inside the composition) is read as ours:
    // transient, so retried; the first attempt's timeout opened the breaker, so the retry
    // is refused by it, and that refusal is transient too.
    const error = await rejection(policy.execute(call));
    assert.ok(rejectedBecause(error, 'circuit-open', 'isBrokenCircuitError'));
    assert.equal(server.requests.length - first, 1, 'the open breaker kept the retry away');
    assert.deepEqual(metrics.values(PolicyMetrics.RETRY), [1]);
    assert.equal(policy.state, 'open');
  });

  test('the shutdown signal cuts a long backoff short, and no further attempt is made', async () => {
    const { policy, shutdown, waitFor } = setUp({
      maxAttempts: 5,
      baseDelayMs: 20_000,
      maxDelayMs: 60_000,
    });
    server.plan([], 503);
    const first = server.requests.length;
    const pending = rejection(policy.execute(call));
    await server.waitForRequests(first + 1);
    await waitFor('dependency call failed; retrying'); // logged as the backoff starts
    const started = performance.now();
    shutdown.abort(new Error('stop requested: test'));
    const error = await pending;
    assert.ok(performance.now() - started < 100, 'rejected at once');
    assert.equal((error as Error).message, 'stop requested: test');
    assert.equal(server.requests.length - first, 1);
  });

  test('a concurrency limit rejects calls beyond the limit and the queue', async () => {
    const { policy, metrics } = setUp({ concurrency: 1, queue: 0, timeoutMs: 300 });
    server.plan(['hang'], 200);
    const hanging = rejection(policy.execute(call));
    const error = await rejection(policy.execute(call));
    assert.ok(rejectedBecause(error, 'bulkhead-full', 'isBulkheadRejectedError'));
    assert.equal(classify(error), 'transient');
    assert.deepEqual(metrics.values(PolicyMetrics.REJECTED), [1]);
    assert.ok(rejectedBecause(await hanging, 'timeout', 'isTaskCancelledError'));
  });

  test('a breaker open too long on a critical dependency is a dependency failure', async () => {
    const { policy, deaths, died } = setUp({ breakerThreshold: 1, critical: true, maxOpenMs: 100 });
    server.plan([], 503);
    await rejection(policy.execute(call));
    await died;
    assert.equal(deaths.length, 1);
    assert.equal(classify(deaths[0]), 'dependency');
    assert.match((deaths[0] as Error).message, /^api: breaker open for more than 100 ms/);
  });

  test('a breaker open too long on a non-critical dependency only degrades', async () => {
    const { policy, deaths, waitFor } = setUp({ breakerThreshold: 1, maxOpenMs: 100 });
    server.plan([], 503);
    await rejection(policy.execute(call));
    const line = await waitFor('breaker open for more than 100 ms; running degraded');
    assert.equal(line['level'], 'warn');
    assert.deepEqual(deaths, []);
  });

  test('a call its caller gives up on is no failure of the dependency: no timeout counted, the breaker stays closed, no retry', async () => {
    // The caller's signal went to cockatiel, whose timeout took the caller's abort for a
    // timeout of its own: three cancelled calls to a healthy dependency opened a critical
    // breaker, which then ended the service with 69.
    const { policy, metrics, deaths } = setUp({
      timeoutMs: 5_000,
      maxAttempts: 3,
      baseDelayMs: 5,
      breakerThreshold: 3,
      critical: true,
      maxOpenMs: 200,
    });
    server.plan(['hang', 'hang', 'hang'], 200); // slow to answer; the callers do not wait
    const first = server.requests.length;
    for (let i = 0; i < 3; i++) {
      const caller = new AbortController();
      const pending = rejection(policy.execute(call, caller.signal));
      await server.waitForRequests(first + i + 1);
      caller.abort(new Error(`caller ${i} gave up`));
      assert.equal(((await pending) as Error).message, `caller ${i} gave up`);
    }
    assert.equal(policy.state, 'closed');
    assert.deepEqual(metrics.values(PolicyMetrics.TIMEOUT), []);
    assert.deepEqual(metrics.values(PolicyMetrics.RETRY), [], 'a cancelled call is not retried');
    assert.equal(await policy.execute(call), 200, 'the next call goes through');
    assert.equal(server.requests.length - first, 4);
    assert.deepEqual(deaths, []);
  });

  test('a half-open trial that is cancelled does not close the breaker: it opens again, and the next call fails fast', async () => {
    // cockatiel counts an error its filter does not handle as the trial's success: a trial
    // its caller gave up on, or that a stop cut short, closed the breaker of a dependency
    // nothing had proven healthy.
    for (const cancel of ['caller', 'shutdown'] as const) {
      const { policy, shutdown, metrics, named, waitFor } = setUp({
        breakerThreshold: 1,
        halfOpenAfterMs: 200,
      });
      server.plan([503, 'hang'], 200);
      const first = server.requests.length;
      await rejection(policy.execute(call));
      await waitFor('breaker opened');
      await delay(250); // the half-open delay itself is what is under test
      const caller = new AbortController();
      const trial = rejection(policy.execute(call, caller.signal));
      await server.waitForRequests(first + 2);
      assert.equal(policy.state, 'half-open', `${cancel}: the call is the trial`);
      if (cancel === 'caller') caller.abort(new Error('the caller gave up'));
      else shutdown.abort(new Error('stop requested: test'));
      await trial;
      await delay(20); // the breaker's decision follows the attempt's end
      assert.equal(policy.state, 'open', `${cancel}: a cancelled trial proved nothing`);
      const states = metrics.records
        .filter((r) => r.name === PolicyMetrics.BREAKER)
        .map((r) => r.tags['state']);
      assert.deepEqual(states, ['open', 'half-open', 'open'], cancel);
      const levels = named('breaker opened').map((l) => (l as Record<string, unknown>)['level']);
      assert.deepEqual(levels, cancel === 'caller' ? ['warn', 'warn'] : ['warn', 'debug']);
      if (cancel === 'caller') {
        const fast = await rejection(policy.execute(call));
        assert.ok(rejectedBecause(fast, 'circuit-open', 'isBrokenCircuitError'), String(fast));
        assert.equal(server.requests.length - first, 2, 'no request while open again');
        await delay(250);
        assert.equal(await policy.execute(call), 200, 'the next trial after the delay closes it');
        assert.equal(policy.state, 'closed');
      }
    }
  });

  test('a critical breaker whose last trial was cancelled gets one more trial before maxOpenMs ends the service; a failed one does not', async () => {
    // maxOpenMs passed its check (> halfOpenAfterMs + timeoutMs), but a cancelled trial reopens
    // the breaker for halfOpenAfterMs more: the clock ran out 1 ms before the next trial (of a
    // healthy dependency answering in 150 ms) would have closed it, and the service died, 69.
    for (const next of [200, 503] as const) {
      const { policy, deaths, died, named, waitFor } = setUp({
        breakerThreshold: 1,
        halfOpenAfterMs: 200,
        timeoutMs: 300,
        critical: true,
        maxOpenMs: 501,
      });
      server.plan([503, 'hang', next], next);
      const slow = async (signal: AbortSignal): Promise<number> => {
        await delay(150, undefined, { signal });
        return call(signal);
      };
      await rejection(policy.execute(call));
      await waitFor('breaker opened');
      await delay(210); // the half-open delay itself is what is under test
      const caller = new AbortController();
      const trial = rejection(policy.execute(call, caller.signal));
      await delay(50);
      caller.abort(new Error('the caller gave up'));
      await trial;
      // Calls every 50 ms until one is let through as the trial and decided.
      let decided: unknown;
      for (;;) {
        decided = await policy.execute(slow).catch((error: unknown) => error);
        if (!rejectedBecause(decided, 'circuit-open', 'isBrokenCircuitError')) break;
        await delay(50);
      }
      if (next === 200) {
        assert.equal(decided, 200);
        assert.equal(policy.state, 'closed');
        assert.deepEqual(deaths, []);
        assert.equal(
          named('breaker open past maxOpenMs, its last trial cancelled; waiting for one more trial')
            .length,
          1,
        );
      } else {
        await died;
        assert.match((deaths[0] as Error).message, /breaker open for more than 501 ms/);
      }
    }
  });

  test('an error of another realm or a plain object keeps its classification through the policy', async () => {
    const { policy } = setUp({ maxAttempts: 2, baseDelayMs: 5 });
    const { runInNewContext } = await import('node:vm');
    const foreign = runInNewContext(
      "Object.assign(new Error('billing: 401'), { code: 'E_DEPENDENCY' })",
    ) as unknown;
    assert.equal(classify(foreign), 'dependency');
    let attempts = 0;
    const thrown = await rejection(
      policy.execute(() => {
        attempts++;
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- another realm's Error
        return Promise.reject(foreign);
      }),
    );
    assert.equal(thrown, foreign, 'rethrown as thrown');
    assert.equal(classify(thrown), 'dependency');
    assert.equal(attempts, 1, 'a dependency failure is not retried');
    attempts = 0;
    const plain = { code: 'ECONNRESET' };
    const rethrown = await rejection(
      policy.execute(() => {
        attempts++;
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case
        return Promise.reject(plain);
      }),
    );
    assert.equal(rethrown, plain);
    assert.equal(attempts, 2, 'transient (ECONNRESET): retried');
  });

  test('a call that ignores its signal keeps its bulkhead slot until it settles: the limit holds through timeouts and retries', async () => {
    // The timeout answered the attempt and freed its slot while the call ran on: retries and
    // other callers overlapped it (6 attempts at once under a limit of 1).
    const { policy } = setUp({
      concurrency: 1,
      queue: 10,
      timeoutMs: 50,
      maxAttempts: 3,
      baseDelayMs: 1,
      maxDelayMs: 5,
    });
    let running = 0;
    let most = 0;
    const deaf = async (): Promise<void> => {
      most = Math.max(most, ++running);
      await delay(150); // a driver without AbortSignal support
      running--;
    };
    const calls = [1, 2, 3].map(() => rejection(policy.execute(deaf)));
    for (const error of await Promise.all(calls)) {
      assert.ok(error instanceof PolicyRejectedError, String(error));
    }
    assert.equal(most, 1, 'never more than the limit at once');
  });

  test('the main door exports Policies as a class: a worker can build its own registry (docs/resilience.md)', () => {
    assert.equal(door.Policies, Policies);
  });

  test('the registry returns one shared policy per name with overrides on the defaults', () => {
    const { policies } = setUp({ maxAttempts: 7 });
    assert.equal(policies.get('api'), policies.get('api'));
    assert.equal(policies.get('api').config.maxAttempts, 7);
    assert.equal(policies.get('api').config.timeoutMs, base.timeoutMs);
    assert.equal(policies.get('other').config.maxAttempts, base.maxAttempts);
    assert.deepEqual(policies.describe(), { api: 'closed', other: 'closed' });
  });
});
