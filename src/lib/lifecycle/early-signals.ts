import { writeSync } from 'node:fs';

/**
 * The stop signals, handled from the first moment the service's own code runs. A service's
 * entry module calls `installEarlySignalHandlers()` and only then imports the rest (loading
 * every module takes a few hundred milliseconds, during which Node's default action would
 * end the process with 143 and no log line). Until `runService` takes over, a TERM or INT is
 * remembered and replayed as a requested stop, a HUP is remembered as a log-level toggle, a
 * USR1 is remembered (signals.ts says what becomes of it: Node's own action opens the
 * inspector), a USR2 too (it is ignored: its default action ends the process at once), and a
 * second TERM or INT forces the exit (128 + signal number) as it does later, unless it is the
 * first stop's echo (`isStopEcho`). Signals are per process, so the state is too: this module
 * holds it.
 */

export type StopSignal = 'SIGTERM' | 'SIGINT';

/** The first stop signal: which, when (performance.now()), and whether its echo came. */
export interface FirstStop {
  signal: StopSignal;
  at: number;
  echoed: boolean;
}

/** How soon after the first stop signal the same one again is its echo, not a second stop. */
export const stopEchoWindowMs = 1_000;

/**
 * Whether `signal`, arriving now, is the echo of the first stop: the same signal, within
 * `stopEchoWindowMs`, and the first such (it is marked taken). One keypress or one command
 * often delivers a stop twice: a terminal's Ctrl-C sends INT to its whole foreground group, npm
 * and the service, and npm sends it on to the service again (npm/cli#5021); GNU `timeout`
 * sends its TERM to its child and then to its group. Taken for a second stop, either forced
 * the exit (130: Ctrl-C on `npm start`, measured) and cut the shutdown's steps short. A stop
 * meant as a second one comes later, or a third time.
 */
export function isStopEcho(first: FirstStop, signal: StopSignal, now = performance.now()): boolean {
  if (first.echoed || first.signal !== signal || now - first.at > stopEchoWindowMs) return false;
  first.echoed = true;
  return true;
}

/** What arrived before the service took over. */
export interface EarlySignals {
  /** The first stop signal, if one came (its echo, if it came, is not a second stop). */
  stop: FirstStop | undefined;
  /** How many HUPs came (each toggles debug logging). */
  hups: number;
  /** How many USR1s came. */
  usr1s: number;
  /** How many USR2s came. */
  usr2s: number;
}

const forcedExitCode: Record<StopSignal, number> = { SIGTERM: 143, SIGINT: 130 };

let early: { seen: EarlySignals; remove: () => void } | undefined;

/** Installs the early handlers. Idempotent; a no-op once `takeOverEarlySignals()` ran. */
export function installEarlySignalHandlers(): void {
  if (early !== undefined) return;
  const seen: EarlySignals = { stop: undefined, hups: 0, usr1s: 0, usr2s: 0 };
  const onStop = (signal: StopSignal): void => {
    if (seen.stop === undefined) {
      seen.stop = { signal, at: performance.now(), echoed: false };
      return;
    }
    if (isStopEcho(seen.stop, signal)) return;
    // No logger yet: one JSON line, written synchronously, as the config-error path does.
    const exitCode = forcedExitCode[signal];
    const line = {
      level: 'warn',
      time: new Date().toISOString(),
      pid: process.pid,
      thread: 'main',
    };
    writeSync(
      1,
      `${JSON.stringify({ ...line, signal, exitCode, msg: 'second stop signal during start-up; forcing exit' })}\n`,
    );
    process.exit(exitCode);
  };
  const onTerm = (): void => onStop('SIGTERM');
  const onInt = (): void => onStop('SIGINT');
  const onHup = (): void => {
    seen.hups++;
  };
  const onUsr1 = (): void => {
    seen.usr1s++;
  };
  const onUsr2 = (): void => {
    seen.usr2s++;
  };
  // USR1 first: from the moment HUP shows as caught (/proc/PID/status, as tests watch it),
  // Node's own USR1 action (the inspector) is already replaced.
  process.on('SIGUSR1', onUsr1);
  process.on('SIGUSR2', onUsr2);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  early = {
    seen,
    remove: () => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
      process.off('SIGUSR1', onUsr1);
      process.off('SIGUSR2', onUsr2);
    },
  };
}

/**
 * Removes the early handlers and returns what they saw. Call right after installing the real
 * handlers, so that no signal falls between the two. Without early handlers, returns nothing.
 */
export function takeOverEarlySignals(): EarlySignals {
  const current = early;
  if (current === undefined) return { stop: undefined, hups: 0, usr1s: 0, usr2s: 0 };
  current.remove();
  // Once taken over, a later install is not early any more.
  early = { seen: { stop: undefined, hups: 0, usr1s: 0, usr2s: 0 }, remove: () => undefined };
  return current.seen;
}
