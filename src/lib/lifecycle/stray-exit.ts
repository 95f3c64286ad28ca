import type { Logger } from '../primitives/log.js';
import { ExitCode } from '../primitives/exit-codes.js';

/**
 * An exit neither the shutdown nor the exit path made: `process.exit()` called by a fork's code
 * or a dependency (a command-line parser meeting an unknown flag, a library's own "fatal"
 * handler), or the event loop emptying before the shutdown finished. No shutdown step runs:
 * nothing is drained or flushed. And an exit 0 reads as a requested stop, which a supervisor
 * does not restart (supervisord's `exitcodes=0`, a restart policy of `on-failure`): measured
 * with `FAULT=main-exit:0` before this guard, the service ended 0 with no line saying why, and
 * under supervisord it stayed down while its container ran on.
 *
 * The guard, an `exit` listener (it runs inside `process.exit()`, before the process ends),
 * logs one fatal line with the caller's frames, flushed at once, and turns a 0 into 70 (an
 * application error: the supervisor restarts the service); another code is kept. An exit that
 * is planned (`isPlanned()`: the shutdown has run its steps, or the exit path is ending the
 * process) passes untouched. Returns a function that removes the guard.
 */
export function guardStrayExits(options: {
  isPlanned: () => boolean;
  log: Logger;
  /** Writes what is buffered: nothing asynchronous runs after `exit`. */
  flush: () => void;
}): () => void {
  const onExit = (code: number): void => {
    if (options.isPlanned()) return;
    const caller = callerOfExit();
    const replaced = code === 0;
    options.log.fatal(
      {
        exitCode: code,
        ...(replaced && { replacedBy: ExitCode.APPLICATION_ERROR }),
        ...(caller !== undefined && { caller }),
      },
      caller === undefined
        ? 'the process is ending outside the shutdown: no shutdown step ran'
        : 'process.exit() called outside the shutdown: no shutdown step ran',
    );
    options.flush();
    if (replaced) process.exitCode = ExitCode.APPLICATION_ERROR;
  };
  process.on('exit', onExit);
  return () => process.off('exit', onExit);
}

/** The frames under `process.exit` in the current stack (the listener runs inside it). */
function callerOfExit(): string[] | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 16;
  const stack = new Error('exit').stack ?? '';
  Error.stackTraceLimit = limit;
  const frames = stack
    .split('\n')
    .slice(1)
    .map((line) => line.trim());
  const at = frames.findIndex((frame) => frame.startsWith('at process.exit '));
  return at === -1 ? undefined : frames.slice(at + 1, at + 9);
}
