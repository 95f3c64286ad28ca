import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Figures of other processes read from /proc (Linux): CPU time, RSS, and the broker's pid.
 * CPU time, unlike a rate, does not move with what else the shared cores are doing.
 */

/**
 * The node options the service's launchers give it (scripts/run.sh start, supervisord.conf):
 * the main thread's young-generation cap, from MAX_SEMI_SPACE_MB as they read it. The bench
 * starts the built service with these, so it measures the service as it runs.
 */
export const launcherNodeOptions = `--max-semi-space-size=${process.env['MAX_SEMI_SPACE_MB'] ?? '2'}`;

/** MAX_SEMI_SPACE_MB when the bench was given one: the service reads it for its workers. */
export const semiSpaceEnv: Record<string, string> =
  process.env['MAX_SEMI_SPACE_MB'] === undefined
    ? {}
    : { MAX_SEMI_SPACE_MB: process.env['MAX_SEMI_SPACE_MB'] };

let ticks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux unless the kernel says otherwise). */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** User + system CPU seconds the process has used so far, all its threads. Throws if it is gone. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after the name.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}

/** Resident set size in MiB (VmRSS). Throws if the process is gone. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/**
 * The highest VmRSS of a process, sampled every `everyMs` from construction to `stop()`. A
 * process that is gone is not sampled any more (its run fails on its own); the peak seen stays.
 */
export class PeakRss {
  readonly startMb: number;
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  #peakMb: number;
  #stopped = false;

  constructor(pid: number, everyMs = 200) {
    this.#pid = pid;
    this.startMb = rssMb(pid);
    this.#peakMb = this.startMb;
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  #sample(): void {
    try {
      this.#peakMb = Math.max(this.#peakMb, rssMb(this.#pid));
    } catch {
      // gone
    }
  }

  /** Stops sampling (idempotent) and gives the peak, a last sample included. */
  stop(): number {
    if (!this.#stopped) {
      this.#stopped = true;
      clearInterval(this.#timer);
      this.#sample();
    }
    return this.#peakMb;
  }
}

/**
 * The pid of the local RabbitMQ node (its Erlang VM), asked of `rabbitmqctl`. Throws with the
 * reason when it cannot tell (no rabbitmqctl, broker down, broker not on this machine).
 */
export function brokerPid(): number {
  let out: string;
  try {
    out = execFileSync('rabbitmqctl', ['eval', 'os:getpid().'], {
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    throw new Error(`rabbitmqctl cannot tell the broker's pid: ${firstLine(error)}`);
  }
  const pid = Number(/"(\d+)"/.exec(out)?.[1]);
  try {
    cpuSeconds(pid);
  } catch {
    throw new Error(`the broker's pid (${out.trim()}) is not a process on this machine`);
  }
  return pid;
}

/** CPU seconds of a set of processes, read together. */
export function cpuOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((l) => l.trim() !== '') ?? text;
}
