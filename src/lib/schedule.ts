import type * as NodeCron from 'node-cron';
import { z } from 'zod';
import type { ScheduledTask } from 'node-cron';
import type { Logger } from './primitives/log.js';
import type { ProcessControl } from './primitives/process-control.js';
import { handleError, runInScope } from './primitives/exception-scope.js';
import { ConfigError } from './primitives/errors.js';
import { withCorrelationId } from './primitives/correlation.js';
import type { Metrics } from './telemetry/metrics.js';
import { raceAbort, sleep } from './primitives/waits.js';
import { countTimes } from './schedule-times.js';
const { randomUUID } = process.getBuiltinModule('node:crypto');
const { createRequire } = process.getBuiltinModule('node:module');
// node-cron's CommonJS build, not its ES module: the ES build imports node:crypto as an ES
// module, whose facade loads webcrypto (docs/performance.md, built-ins), about 8 ms of the main
// thread's start-up for nothing node-cron uses; required, node:crypto comes without it.
const { createTask, parse, validate } = createRequire(import.meta.url)(
  'node-cron',
) as typeof NodeCron;

/**
 * Scheduled jobs (node-cron; the only file that imports it). Jobs are declared in one place
 * with a name and a cron schedule (six fields allowed: seconds first). node-cron says what the
 * schedule's times are; the scheduler follows the clock itself (#follow), so that the times a
 * step of the clock passed are one warning and a count, not run. A job never overlaps
 * itself: a tick that finds the last run still going is skipped and counted. Each run gets
 * its own correlation id and runs in the exception scope (an application error is logged and
 * reported, and does not end the service; a dependency failure or a configuration error does,
 * with 69 or 78, as anywhere else: it swallowed them, and a job whose database was gone or whose
 * setting was wrong failed every tick while the service read live and ready). `stop(signal)`
 * stops every schedule and waits for runs in progress until `signal` aborts; their own
 * `signal` has aborted by then.
 */

/**
 * A config leaf holding a cron schedule, checked as the scheduler will read it: a bad one is a
 * config error naming its key (exit 78), not a throw once the workers run (70).
 */
export function cronSchedule() {
  return z
    .string()
    .superRefine((value, context) => {
      const problem = scheduleProblem(value);
      if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
    })
    .describe('a cron schedule, five fields or six with seconds first, such as */10 * * * * *');
}

/**
 * What is wrong with `schedule` as node-cron will run it, or undefined. validate() takes some
 * that never come ('0 0 31W 2 *', the fifth Monday of January 1st or of days 1-7), and the
 * task's start() then threw at start-up, 70 for a setting; so a task is built and asked for
 * its next run too (node-cron looks 100 years ahead), then destroyed.
 */
function scheduleProblem(schedule: string): string | undefined {
  if (!validate(schedule)) return 'not a cron schedule';
  let task: ScheduledTask | undefined;
  try {
    task = createTask(schedule, () => undefined);
    if (task.getNextRuns(1).length === 1) return undefined;
  } catch {
    // node-cron's "Could not find next matching date within reasonable time range".
  } finally {
    void task?.destroy();
  }
  return 'a cron schedule that never comes (no run within 100 years)';
}

export interface JobSpec {
  name: string;
  /** A cron expression, e.g. `*\/10 * * * * *` (every 10 s). */
  schedule: string;
  /** The work. `signal` aborts when the service shuts down. */
  run: (signal: AbortSignal) => Promise<void> | void;
}

/** Per-run pings (the cronitor integration provides one). */
export interface JobRunMonitor {
  run(job: string, series: string): void;
  complete(job: string, series: string, durationMs: number): void;
  fail(job: string, series: string, error: unknown): void;
}

export interface SchedulerOptions {
  log: Logger;
  control: ProcessControl;
  metrics: Metrics;
  monitor?: JobRunMonitor;
}

interface Job {
  spec: JobSpec;
  /** node-cron's task for the schedule: asked for times, never started (see #follow). */
  task: ScheduledTask | undefined;
  running: Promise<void> | undefined;
  runs: number;
  skipped: number;
  missed: number;
}

/** How late a time may be met and still run (node-cron's own tolerance). */
const lateToleranceMs = 1000;
/** The longest sleep between two looks at the wall clock: a step of it is seen within this. */
const maxSleepMs = 60_000;

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #log: Logger;
  readonly #jobs = new Map<string, Job>();
  #started = false;
  #stopping: Promise<void> | undefined;
  /** Ends the schedules' loops at stop(). */
  readonly #halt = new AbortController();

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'schedule' });
  }

  /**
   * Declares a job. Before `start()` only. Throws on a duplicate name, and a ConfigError (exit
   * 78) on a schedule that is not one or never comes: a schedule is a setting.
   */
  add(spec: JobSpec): this {
    if (this.#started) throw new Error(`job ${spec.name} declared after the scheduler started`);
    if (this.#jobs.has(spec.name)) throw new Error(`a job named ${spec.name} is already declared`);
    const problem = scheduleProblem(spec.schedule);
    if (problem !== undefined) {
      throw new ConfigError(`job ${spec.name}: ${JSON.stringify(spec.schedule)} is ${problem}`);
    }
    const job = { spec, task: undefined, running: undefined, runs: 0, skipped: 0, missed: 0 };
    this.#jobs.set(spec.name, job);
    return this;
  }

  get names(): string[] {
    return [...this.#jobs.keys()];
  }

  /** Runs, skipped ticks and missed times per job. */
  stats(): Record<string, { runs: number; skipped: number; missed: number; running: boolean }> {
    return Object.fromEntries(
      [...this.#jobs].map(([name, j]) => [
        name,
        { runs: j.runs, skipped: j.skipped, missed: j.missed, running: j.running !== undefined },
      ]),
    );
  }

  /** Starts every declared schedule. Idempotent. */
  start(): void {
    const { control } = this.#options;
    if (this.#started || control.signal.aborted) return;
    this.#started = true;
    const signal = AbortSignal.any([control.signal, this.#halt.signal]);
    for (const job of this.#jobs.values()) {
      const task = createTask(job.spec.schedule, () => undefined, { name: job.spec.name });
      job.task = task;
      this.#follow(job, task, signal).catch((error: unknown) => {
        handleError(error, { name: `schedule ${job.spec.name}`, log: this.#log, control });
      });
    }
    if (this.#jobs.size > 0) this.#log.info({ jobs: this.names }, 'schedule started');
  }

  /**
   * Runs `job` at its schedule's times as the wall clock reads them: sleeps to the next one (a
   * minute at most, so a step of the clock is seen), runs it if it comes on time, and counts
   * the times a step of the clock (a suspend, a clock set ahead) or a held main thread went
   * past as missed, in one line, without running them. node-cron's runner walked the missed
   * times one by one, each a warning: a day's step on a job a second gave 86,404 lines; a
   * year's on one every 10 s held main for 85 s (killed as stalled, 137). Returns when
   * `signal` aborts.
   */
  async #follow(job: Job, task: ScheduledTask, signal: AbortSignal): Promise<void> {
    const times = parse(job.spec.schedule);
    for (let next = nextTime(task); next !== undefined;) {
      const waitMs = next - Date.now();
      if (waitMs > 0) {
        if (!(await sleep(Math.min(waitMs, maxSleepMs), signal))) return;
        continue;
      }
      const onTime = -waitMs <= lateToleranceMs;
      if (onTime) this.#tick(job);
      const following = nextTime(task);
      // The times between this one and the following one, this one too unless it ran, were
      // passed over: by the lateness, or a step of the clock, even one after the run began.
      const untilMs = (following ?? Date.now()) - 1;
      const missed = countTimes((at) => task.match(at), times, onTime ? next + 1 : next, untilMs);
      if (missed > 0) this.#missed(job, missed, onTime ? next + 1000 : next, untilMs);
      next = following;
    }
  }

  #missed(job: Job, count: number, fromMs: number, toMs: number): void {
    const name = job.spec.name;
    job.missed += count;
    this.#options.metrics.count('job_missed_total', count, { job_name: name });
    this.#log.warn(
      {
        job: name,
        missed: count,
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
      },
      'scheduled times missed (the clock stepped ahead, or main was held); not run',
    );
  }

  /** Runs a job now, as a tick would (skipped if it is running). For tests and drills. */
  runNow(name: string): Promise<void> {
    const job = this.#jobs.get(name);
    if (job === undefined) throw new Error(`no job named ${name}`);
    this.#tick(job);
    return job.running ?? Promise.resolve();
  }

  /**
   * Stops the schedules, then waits for the runs in progress until they end or `signal`
   * aborts (the shutdown step's): nothing of the scheduler outlives the step. It kept a timer
   * of its own, the full step timeout, which outlived a step the coordinator had cut to the
   * deadline: 'shutdown complete', then the process held until the deadline's exit (124).
   * Resolves either way; idempotent (a second call gets the first one's promise).
   */
  stop(signal: AbortSignal): Promise<void> {
    this.#stopping ??= this.#stop(signal);
    return this.#stopping;
  }

  async #stop(signal: AbortSignal): Promise<void> {
    this.#halt.abort();
    for (const job of this.#jobs.values()) await job.task?.destroy();
    const running = [...this.#jobs.values()].filter((j) => j.running !== undefined);
    if (running.length === 0) return;
    const names = running.map((j) => j.spec.name);
    this.#log.info({ running: names }, 'waiting for running jobs');
    try {
      const runs = running.map((j) => j.running ?? Promise.resolve());
      await raceAbort(Promise.allSettled(runs), signal);
    } catch {
      this.#log.warn({ running: names }, 'jobs still running at shutdown; left behind');
    }
  }

  #tick(job: Job): void {
    const { signal } = this.#options.control;
    if (signal.aborted || this.#stopping !== undefined) return;
    const name = job.spec.name;
    if (job.running !== undefined) {
      job.skipped++;
      this.#options.metrics.count('job_skipped_total', 1, { job_name: name });
      this.#log.warn({ job: name, skipped: job.skipped }, 'job still running; tick skipped');
      return;
    }
    const series = randomUUID();
    const started = performance.now();
    const monitor = this.#options.monitor;
    job.runs++;
    const scope = {
      name: `job ${name}`,
      log: this.#log,
      control: this.#options.control,
      onError: 'continue' as const,
    };
    // Everything of a run is in its scope, the pings and the metrics too: a monitor or a sink
    // that throws is handled as any error of the job is. They sat outside it, and a cronitor
    // ping that threw on the job's error (an Object.create(null)) rejected this promise: 70.
    job.running = withCorrelationId(series, () =>
      runInScope(async () => {
        this.#log.debug({ job: name }, 'job started');
        monitor?.run(name, series);
        // Failed or not, apart from what it failed with: a job may reject with nothing.
        let failed: { error: unknown } | undefined;
        await runInScope(async () => {
          try {
            await job.spec.run(signal);
          } catch (error) {
            failed = { error };
            throw error;
          }
        }, scope);
        const durationMs = Math.round(performance.now() - started);
        this.#options.metrics.timing('job_duration_seconds', durationMs, { job_name: name });
        if (failed === undefined) monitor?.complete(name, series, durationMs);
        else monitor?.fail(name, series, failed.error);
        this.#log.debug({ job: name, durationMs, ok: failed === undefined }, 'job finished');
      }, scope),
    )
      // The scope never rethrows ('continue'); should it ever, the error is still handled.
      .catch((error: unknown) => {
        handleError(error, scope);
      })
      .then(() => {
        job.running = undefined;
      });
  }
}

/** The task's next time after now, in ms; undefined when none (checked in add()). */
function nextTime(task: ScheduledTask): number | undefined {
  return task.getNextRuns(1)[0]?.getTime();
}
