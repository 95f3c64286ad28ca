import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { createTask, parse } from 'node-cron';
import { Scheduler, cronSchedule, type JobRunMonitor } from '../../src/lib/schedule.js';
import { countTimes } from '../../src/lib/schedule-times.js';
import { ErrorReporters, type ProcessControl } from '../../src/lib/primitives/process-control.js';
import { currentCorrelationId } from '../../src/lib/primitives/correlation.js';
import { noopMetrics, type Metrics } from '../../src/lib/telemetry/metrics.js';
import { captureLog } from '../helpers/capture-log.js';
import { ConfigError, DependencyError } from '../../src/lib/primitives/errors.js';
import { exitCodeFor } from '../../src/lib/primitives/exit-codes.js';
import { RecordingMetrics } from '../helpers/recording-metrics.js';
import { ArmedTimers } from '../helpers/armed-timers.js';

/** The scheduler with real node-cron tasks and the real exception scope. */

function setUp(monitor?: JobRunMonitor, metrics: Metrics = noopMetrics) {
  const controller = new AbortController();
  const reporters = new ErrorReporters();
  const reported: unknown[] = [];
  reporters.add((error) => reported.push(error));
  const died: unknown[] = [];
  const control: ProcessControl = {
    signal: controller.signal,
    die: (cause) => died.push(cause),
    report: (error, context) => reporters.report(error, context),
  };
  const captured = captureLog();
  const scheduler = new Scheduler({ log: captured.log, control, metrics, monitor });
  return { scheduler, controller, reported, died, ...captured };
}

/** A promise with its resolver, to hold a job open until the test lets it finish. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('Scheduler', () => {
  test('a scheduled job runs on its schedule, with its own correlation id', async () => {
    const { scheduler } = setUp();
    const ran = gate();
    let correlationId: string | undefined;
    scheduler.add({
      name: 'every-second',
      schedule: '* * * * * *',
      run: () => {
        correlationId = currentCorrelationId();
        ran.open();
      },
    });
    scheduler.start();
    await ran.opened;
    await scheduler.stop(AbortSignal.timeout(1000));
    assert.match(correlationId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(scheduler.stats()['every-second']?.runs, 1);
  });

  test('the times a held main thread passed are missed: one warning with the count and the metric, none run late', async (t) => {
    // node-cron warned once per time passed (86,404 lines for a day's step of the clock), and
    // walked them one by one, holding main (a year of a job every 10 s: 85 s, killed 137).
    const metrics = new RecordingMetrics();
    const { scheduler, lines } = setUp(undefined, metrics);
    let runs = 0;
    scheduler.add({
      name: 'tick',
      schedule: '* * * * * *',
      run: () => {
        runs++;
      },
    });
    scheduler.start();
    t.after(() => scheduler.stop(AbortSignal.timeout(1000)));
    while (runs === 0) await delay(20);
    const held = Date.now();
    while (Date.now() - held < 2500); // main held: no timer fires, as on a laptop's lid closed
    const runsBefore = runs;
    const message = 'scheduled times missed (the clock stepped ahead, or main was held); not run';
    while (!lines.some((l) => l.msg === message) && Date.now() - held < 6000) await delay(20);
    const warned = lines.filter((l) => l.level === 'warn');
    assert.deepEqual(
      warned.map((l) => l.msg),
      [message],
    );
    const missed = warned[0]?.['missed'] as number;
    assert.ok(missed >= 2 && missed <= 3, `${missed} missed`);
    assert.deepEqual(metrics.values('job_missed_total'), [missed]);
    assert.equal(scheduler.stats()['tick']?.missed, missed);
    assert.equal(runs, runsBefore, 'none of the missed times ran when main came back');
  });

  test('a tick that finds the job still running is skipped and counted', async () => {
    const metrics = new RecordingMetrics();
    const { scheduler, lines } = setUp(undefined, metrics);
    const release = gate();
    scheduler.add({ name: 'slow', schedule: '0 0 1 1 *', run: () => release.opened });
    const first = scheduler.runNow('slow');
    const second = scheduler.runNow('slow');
    assert.deepEqual(scheduler.stats()['slow'], { runs: 1, skipped: 1, missed: 0, running: true });
    release.open();
    await second;
    await first;
    assert.deepEqual(scheduler.stats()['slow'], { runs: 1, skipped: 1, missed: 0, running: false });
    const skipped = {
      type: 'count',
      name: 'job_skipped_total',
      value: 1,
      tags: { job_name: 'slow' },
    };
    assert.deepEqual(
      metrics.records.filter((r) => r.type === 'count'),
      [skipped],
    );
    assert.equal(metrics.values('job_duration_seconds').length, 1, 'the run that ran is timed');
    assert.ok(lines.some((l) => l.msg === 'job still running; tick skipped'));
  });

  test('a failing job is logged and reported, sends a fail ping, and does not end the service', async () => {
    const pings: string[] = [];
    const monitor: JobRunMonitor = {
      run: (job) => pings.push(`run ${job}`),
      complete: (job) => pings.push(`complete ${job}`),
      fail: (job, _series, error) =>
        pings.push(`fail ${job} ${(error as Error | undefined)?.message}`),
    };
    const { scheduler, reported, died } = setUp(monitor);
    scheduler.add({
      name: 'broken',
      schedule: '0 0 1 1 *',
      run: () => {
        throw new Error('job bug');
      },
    });
    scheduler.add({ name: 'fine', schedule: '0 0 1 1 *', run: () => undefined });
    // A rejection with no reason is a failure too (it was reported as a success).
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case itself
    scheduler.add({ name: 'empty', schedule: '0 0 1 1 *', run: () => Promise.reject() });
    await scheduler.runNow('broken');
    await scheduler.runNow('fine');
    await scheduler.runNow('empty');
    assert.deepEqual(pings, [
      'run broken',
      'fail broken job bug',
      'run fine',
      'complete fine',
      'run empty',
      'fail empty undefined',
    ]);
    assert.equal((reported[0] as Error).message, 'job bug');
    assert.deepEqual(died, []);
  });

  test("a ping that throws on the job's error is handled in the job's scope: runNow() resolves and the service goes on", async () => {
    // The pings and the timing sat outside the scope: the old cronitor ping threw on a job's
    // Object.create(null), the run's promise rejected, and nothing caught it (exit 70).
    const pingThrows: JobRunMonitor = {
      run: () => undefined,
      complete: () => undefined,
      fail: (_job, _series, error) => {
        throw new TypeError(`cannot print ${String(error)}`);
      },
    };
    const { scheduler, reported, died, lines } = setUp(pingThrows);
    scheduler.add({
      name: 'odd',
      schedule: '0 0 1 1 *',
      run: () => {
        throw Object.create(null);
      },
    });
    await scheduler.runNow('odd');
    assert.deepEqual(died, []);
    assert.equal(reported.length, 2, 'the job error, then the ping error');
    assert.match((reported[1] as Error).message, /cannot print|Cannot convert/);
    assert.deepEqual(
      lines.filter((l) => l.level === 'error').map((l) => [l.msg, l['scope']]),
      [
        ['application error', 'job odd'],
        ['application error', 'job odd'],
      ],
    );
    assert.deepEqual(scheduler.stats()['odd'], { runs: 1, skipped: 0, missed: 0, running: false });
  });

  test('a job failing as a dependency or with a configuration error ends the service, unreported, as anywhere else', async () => {
    // Swallowed, a job whose database was gone failed every tick while the service read live.
    const { scheduler, reported, died, lines } = setUp();
    const outage = new DependencyError('database', 'connection refused');
    const setting = new ConfigError('the report job needs REPORT_BUCKET');
    scheduler.add({ name: 'outage', schedule: '0 0 1 1 *', run: () => Promise.reject(outage) });
    scheduler.add({
      name: 'setting',
      schedule: '0 0 1 1 *',
      run: () => {
        throw setting;
      },
    });
    await scheduler.runNow('outage');
    await scheduler.runNow('setting');
    assert.deepEqual(died, [outage, setting]);
    assert.deepEqual(reported, []);
    assert.equal(exitCodeFor(died[0]), 69);
    assert.equal(exitCodeFor(died[1]), 78);
    assert.deepEqual(
      lines.filter((l) => l.level !== 'debug').map((l) => [l.msg, l['scope']]),
      [
        ['dependency failure', 'job outage'],
        ['configuration error', 'job setting'],
      ],
    );
  });

  test('stop() waits for a running job, but only until its signal aborts', async () => {
    const { scheduler, controller, lines } = setUp();
    const release = gate();
    let sawAbort = false;
    scheduler.add({
      name: 'stuck',
      schedule: '0 0 1 1 *',
      run: async (signal) => {
        await release.opened;
        sawAbort = signal.aborted;
      },
    });
    const run = scheduler.runNow('stuck');
    controller.abort();
    const started = performance.now();
    await scheduler.stop(AbortSignal.timeout(200));
    assert.ok(performance.now() - started < 1000);
    assert.ok(lines.some((l) => l.msg === 'jobs still running at shutdown; left behind'));
    release.open();
    await run;
    assert.equal(sawAbort, true, 'the job saw the shutdown signal');
  });

  test('a schedule node-cron validates but can never run is refused when declared and by cronSchedule(): a config error, 78', () => {
    // validate() took these and the task's start() threw at start-up: exit 70 for a setting.
    const { scheduler } = setUp();
    for (const schedule of ['0 0 31W 2 *', '0 0 1 1 1#5', '0 0 0 1-7 * 1#5']) {
      const error = (() => {
        try {
          scheduler.add({ name: 'never', schedule, run: () => undefined });
        } catch (thrown) {
          return thrown;
        }
        return undefined;
      })();
      assert.ok(error instanceof ConfigError, `${schedule}: ${String(error)}`);
      assert.equal(exitCodeFor(error), 78);
      assert.equal(
        error.message,
        `job never: ${JSON.stringify(schedule)} is a cron schedule that never comes (no run within 100 years)`,
      );
      const parsed = cronSchedule().safeParse(schedule);
      assert.equal(
        parsed.error?.issues[0]?.message,
        'a cron schedule that never comes (no run within 100 years)',
      );
    }
    // A rare one that does come is taken (February 29th on a Monday: 2044).
    scheduler.add({ name: 'rare', schedule: '0 0 29 2 1', run: () => undefined });
    assert.equal(cronSchedule().safeParse('0 0 29 2 1').success, true);
  });

  test('stop() keeps no timer of its own: once its signal aborts, nothing of the scheduler is armed', async () => {
    // It waited on a timer of the full step timeout; cut to the deadline, the step ended and
    // the timer held the process past 'shutdown complete' to the deadline's exit (124).
    const { scheduler, controller } = setUp();
    const release = gate();
    scheduler.add({ name: 'stuck', schedule: '0 0 1 1 *', run: () => release.opened });
    const timers = ArmedTimers.watch();
    try {
      const run = scheduler.runNow('stuck');
      controller.abort();
      const step = new AbortController();
      const stopping = scheduler.stop(step.signal);
      step.abort();
      await stopping;
      assert.equal(scheduler.stop(new AbortController().signal), stopping, 'idempotent');
      release.open();
      await run;
    } finally {
      timers.assertNoneArmed();
    }
  });

  test('a bad schedule or a duplicate name is refused when declared', () => {
    const { scheduler } = setUp();
    assert.throws(
      () => scheduler.add({ name: 'x', schedule: 'every day', run: () => undefined }),
      /not a cron/,
    );
    scheduler.add({ name: 'x', schedule: '* * * * *', run: () => undefined });
    assert.throws(
      () => scheduler.add({ name: 'x', schedule: '* * * * *', run: () => undefined }),
      /already/,
    );
  });
});

describe('countTimes: the times of a schedule in a range, counted day by day', () => {
  /** node-cron's own task and fields for `schedule`, as the scheduler counts with them. */
  function count(schedule: string, from: Date, to: Date): number {
    const task = createTask(schedule, () => undefined);
    try {
      return countTimes((at) => task.match(at), parse(schedule), from.getTime(), to.getTime());
    } finally {
      void task.destroy();
    }
  }
  // Local times on days no time zone changes its offset on (January; Monday the 7th).
  const at = (day: number, h = 0, m = 0, s = 0) => new Date(2030, 0, day, h, m, s);

  test('both ends count; a range inside one day is counted time by time', () => {
    assert.equal(count('* * * * * *', at(7, 12), at(8, 12)), 86_401);
    assert.equal(count('*/10 * * * * *', at(7, 12, 0, 5), at(7, 12, 0, 35)), 3);
    assert.equal(count('*/10 * * * * *', at(7, 12, 0, 10), at(7, 12, 0, 10)), 1);
    assert.equal(count('* * * * * *', at(8), at(7)), 0, 'an empty range');
  });

  test('whole days by their date: weekdays, days of the month, a year of a job every 10 s', () => {
    assert.equal(count('0 3 * * mon-fri', at(7), at(28)), 15);
    assert.equal(count('0 0 1,15 * *', at(1), new Date(2030, 11, 31)), 24);
    // 3.2 million times: counted, not walked (node-cron walked them, 85 s of a held main).
    const started = performance.now();
    assert.equal(count('*/10 * * * * *', at(7), new Date(2031, 0, 7)), 365 * 8640 + 1);
    assert.ok(performance.now() - started < 1000);
  });
});
