import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  ShutdownCoordinator,
  type ShutdownCoordinatorOptions,
} from '../../../src/lib/lifecycle/shutdown-coordinator.js';
import { classify } from '../../../src/lib/primitives/classify.js';
import { DependencyError } from '../../../src/lib/primitives/errors.js';
import { isShutdownNoise } from '../../../src/lib/primitives/exception-scope.js';
import { ExitCode } from '../../../src/lib/primitives/exit-codes.js';
import { captureLogger } from '../../helpers/core.js';
import { ArmedTimers } from '../../helpers/armed-timers.js';

/**
 * A coordinator for one test. After the test it is disposed, and the test fails if any timer
 * armed during it (the 10 s deadline above all) is still armed.
 */
function coordinator(t: TestContext, overrides: Partial<ShutdownCoordinatorOptions> = {}) {
  const timers = ArmedTimers.watch();
  const { log, sink } = captureLogger();
  const exits: number[] = [];
  const c = new ShutdownCoordinator({
    log,
    escalationMs: 5_000,
    deadlineMs: 10_000,
    stepTimeoutMs: 1_000,
    exit: (code) => void exits.push(code),
    ...overrides,
  });
  t.after(() => {
    c[Symbol.dispose]();
    timers.assertNoneArmed();
    assert.deepEqual(exits, [], 'exit called');
  });
  return { c, sink };
}

test('steps run phase by phase, the last registered first within a phase', async (t) => {
  const { c } = coordinator(t);
  const order: string[] = [];
  const step = (name: string, phase: Parameters<typeof c.addStep>[0]['phase']) =>
    c.addStep({ name, phase, run: () => void order.push(name) });
  step('flush', 'flush');
  step('close a', 'close');
  step('close b', 'close');
  step('workers', 'stop-workers');
  step('drain', 'drain');
  step('intake', 'stop-intake');
  c.requestStop('test');
  assert.equal(await c.done, ExitCode.OK);
  assert.deepEqual(order, ['intake', 'drain', 'workers', 'close b', 'close a', 'flush']);
  assert.equal(c.state, 'stopped');
});

test('onBegin runs once, when the shutdown starts, before any step; a hook that throws is logged and stops nothing', async (t) => {
  const order: string[] = [];
  const { c, sink } = coordinator(t, {
    onBegin: () => {
      order.push(`begin (aborted: ${String(c.signal.aborted)})`);
      throw new Error('no thread for the sentinel');
    },
  });
  c.addStep({ name: 'intake', phase: 'stop-intake', run: () => void order.push('intake') });
  assert.deepEqual(order, []);
  c.requestStop('test');
  c.die(new Error('late failure'));
  assert.equal(await c.done, ExitCode.APPLICATION_ERROR);
  assert.deepEqual(order, ['begin (aborted: false)', 'intake']);
  const warned = sink.lines.find((l) => l.msg === 'shutdown start hook failed');
  assert.equal(
    (warned?.['err'] as { message?: string } | undefined)?.message,
    'no thread for the sentinel',
  );
});

test('the root signal aborts when shutdown starts', async (t) => {
  const { c } = coordinator(t);
  const release = new AbortController();
  const waiting = Promise.withResolvers<void>();
  c.addStep({
    name: 'wait',
    phase: 'drain',
    run: async () => {
      waiting.resolve();
      await once(release.signal, 'abort');
    },
  });
  assert.equal(c.signal.aborted, false);
  c.requestStop('test');
  assert.equal(c.signal.aborted, true);
  assert.equal(c.state, 'stopping');
  // Released once the step waits (before, it would wait out its 1 s timeout instead).
  await waiting.promise;
  release.abort();
  await c.done;
});

test('a requested stop aborts the root signal with a cancellation', async (t) => {
  // Aborted with a plain Error, a requested stop made every call it cut short 'unexpected':
  // the sample's notifier warned once per notification in flight (1,691 lines at one TERM).
  const { c } = coordinator(t);
  c.requestStop('SIGTERM');
  const reason: unknown = c.signal.reason;
  assert.ok(reason instanceof Error);
  assert.equal(reason.name, 'AbortError');
  assert.equal(reason.message, 'stop requested: SIGTERM');
  assert.equal(classify(reason), 'transient', 'work cut short by a stop is done again later');
  assert.equal(isShutdownNoise(new Error('wrapped', { cause: reason }), undefined), true);
  assert.equal(await c.done, ExitCode.OK);
});

test('a failure aborts the root signal with its cause', async (t) => {
  const { c } = coordinator(t);
  const cause = new DependencyError('broker', 'gone');
  c.die(cause);
  assert.equal(c.signal.reason, cause);
  assert.equal(await c.done, ExitCode.DEPENDENCY_FAILURE);
});

test('a failing or hanging step is logged and the others still run', async (t) => {
  const { c, sink } = coordinator(t, { stepTimeoutMs: 50 });
  const ran: string[] = [];
  c.addStep({ name: 'later', phase: 'flush', run: () => void ran.push('later') });
  c.addStep({
    name: 'hangs',
    phase: 'close',
    run: (signal) => new Promise((r) => signal.addEventListener('abort', () => r())),
  });
  c.addStep({
    name: 'throws',
    phase: 'drain',
    run: () => {
      throw new Error('step broke');
    },
  });
  c.requestStop('test');
  assert.equal(await c.done, ExitCode.OK);
  assert.deepEqual(ran, ['later']);
  const outcomes: Record<string, unknown> = Object.fromEntries(
    sink.lines
      .filter((l) => l['msg'] === 'shutdown step finished')
      .map((l): [string, unknown] => [String(l['step']), l['outcome']]),
  );
  assert.deepEqual(outcomes, { throws: 'failed', hangs: 'timed-out', later: 'ok' });
});

test('die() keeps the first cause and its exit code; stopping twice is harmless', async (t) => {
  const { c } = coordinator(t);
  let runs = 0;
  c.addStep({
    name: 'once',
    phase: 'close',
    run: () => {
      runs++;
    },
  });
  c.die(new DependencyError('broker', 'gone'));
  c.die(new Error('later bug'));
  c.requestStop('SIGTERM');
  assert.equal(await c.done, ExitCode.DEPENDENCY_FAILURE);
  assert.equal(runs, 1);
  assert.match((c.cause as Error).message, /broker/);
});

test('a failure during a requested stop makes the exit code non-zero', async (t) => {
  const { c } = coordinator(t);
  c.addStep({ name: 'breaks', phase: 'drain', run: () => c.die(new Error('lost work')) });
  c.requestStop('SIGTERM');
  assert.equal(await c.done, ExitCode.APPLICATION_ERROR);
});

test('a requested stop leaves failed alone', async (t) => {
  const { c } = coordinator(t);
  c.requestStop('SIGTERM');
  assert.equal(await c.done, ExitCode.OK);
  assert.equal(c.failed.aborted, false);
});

test('failed aborts with the first failure, during the shutdown too', async (t) => {
  const { c } = coordinator(t);
  const release = Promise.withResolvers<void>();
  c.addStep({ name: 'waits', phase: 'drain', run: () => release.promise });
  c.requestStop('SIGTERM');
  assert.equal(c.failed.aborted, false);
  const first = new DependencyError('broker', 'gone');
  c.die(first);
  c.die(new Error('later bug'));
  assert.equal(c.failed.aborted, true);
  assert.equal(c.failed.reason, first);
  release.resolve();
  assert.equal(await c.done, ExitCode.DEPENDENCY_FAILURE);
});

test('past the escalation delay it turns on debug logging and lists what is open', async (t) => {
  let escalated = 0;
  const { c, sink } = coordinator(t, {
    escalationMs: 30,
    onEscalate: () => {
      escalated++;
    },
  });
  c.addOpenResourceReporter('sockets', () => [{ name: 'pub', createdAt: 'main.ts:10:5' }]);
  const release = new AbortController();
  c.addStep({
    name: 'slow drain',
    phase: 'drain',
    run: async () => {
      await once(release.signal, 'abort');
    },
  });
  c.requestStop('test');
  const listing = await sink.waitFor((l) =>
    String(l['msg']).startsWith('shutdown is taking too long'),
  );
  release.abort();
  await c.done;
  assert.equal(escalated, 1);
  const open = listing['open'] as Record<string, unknown>;
  assert.deepEqual(open['sockets'], [{ name: 'pub', createdAt: 'main.ts:10:5' }]);
  assert.equal(open['currentStep'], 'slow drain');
  assert.ok(Array.isArray(open['nodeActiveResources']));
});

test('at the hard deadline it exits with the deadline code', async (t) => {
  const exited = Promise.withResolvers<number>();
  const { c, sink } = coordinator(t, {
    escalationMs: 10,
    deadlineMs: 40,
    exit: (code) => exited.resolve(code),
  });
  const release = new AbortController();
  c.addStep({
    name: 'stuck',
    phase: 'close',
    timeoutMs: 60_000,
    run: async () => {
      await once(release.signal, 'abort');
    },
  });
  c.requestStop('test');
  assert.equal(await exited.promise, ExitCode.SHUTDOWN_DEADLINE);
  release.abort();
  await c.done;
  assert.ok(sink.messages().includes('shutdown deadline exceeded; exiting now'));
});

test('a step timeout past the longest timer, NaN or negative: every step still runs and the shutdown ends', async (t) => {
  // The stop-workers step's timeout is the step timeout per worker: with the largest
  // SHUTDOWN_STEP_TIMEOUT_MS the config takes, AbortSignal.timeout() threw, the steps stopped
  // there and `done` never resolved (every TERM ended in 124); past 2^32 it warned and timed
  // the step out at once.
  const { c, sink } = coordinator(t);
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const ran: string[] = [];
  for (const [name, timeoutMs] of [
    ['over 2^31', 3 * 2_147_483_647 + 1000],
    ['over 2^32', 2 ** 33],
    ['not a number', Number.NaN],
    ['negative', -5],
    ['infinite', Number.POSITIVE_INFINITY],
  ] as const) {
    c.addStep({
      name,
      phase: 'close',
      timeoutMs,
      run: () => void ran.push(name),
    });
  }
  c.requestStop('test');
  assert.equal(await c.done, ExitCode.OK);
  assert.deepEqual(ran.sort(), ['infinite', 'negative', 'not a number', 'over 2^31', 'over 2^32']);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    warnings.map((w) => w.name),
    [],
  );
  const outcomes = sink.lines
    .filter((l) => l['msg'] === 'shutdown step finished')
    .map((l) => `${String(l['step'])}: ${String(l['outcome'])}`);
  assert.equal(outcomes.length, 5, outcomes.join('; '));
});

test("steps are cut to what the deadline leaves, less the flush phase's own time: the flush runs, and the exit says the deadline", async (t) => {
  // A step's own timeout past the deadline's remainder let the deadline's timer end the process
  // in its middle: the flush (the error report of the failure that began the stop) never ran.
  const { c, sink } = coordinator(t, { escalationMs: 2_000, deadlineMs: 3_000 });
  const flushed = Promise.withResolvers<void>();
  c.addStep({
    name: 'flush',
    phase: 'flush',
    timeoutMs: 800,
    run: async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      flushed.resolve();
    },
  });
  c.addStep({ name: 'hangs', phase: 'drain', timeoutMs: 60_000, run: () => new Promise(() => {}) });
  const started = performance.now();
  c.requestStop('test');
  assert.equal(await c.done, ExitCode.SHUTDOWN_DEADLINE);
  await flushed.promise;
  const tookMs = performance.now() - started;
  assert.ok(tookMs < 3_000 - 500, `done after ${Math.round(tookMs)} ms`);
  const cut = sink.lines.find(
    (l) => l['msg'] === 'shutdown step cut to what remains before the deadline',
  );
  // 3 s, less the margin (1 s) and the flush step's 0.8 s.
  assert.ok(Math.abs(Number(cut?.['timeoutMs']) - 1_200) < 100, JSON.stringify(cut));
  const outcomes = sink.lines
    .filter((l) => l['msg'] === 'shutdown step finished')
    .map((l) => `${String(l['step'])}: ${String(l['outcome'])}`);
  assert.deepEqual(outcomes, ['hangs: timed-out', 'flush: ok']);
});
