import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { loadConfig } from '../primitives/config.js';
import { misspelledVariables, unreadPrefixedVariables } from '../primitives/env-typos.js';
import { createLogSink } from '../primitives/log.js';
import { writeStderr } from '../primitives/fd-sink.js';
import { routeConsole } from '../primitives/console-output.js';
import { redactSecrets } from '../primitives/secrets.js';
import { ConfigError, DependencyError, isConfigError } from '../primitives/errors.js';
import { serializeError } from '../primitives/error-serialization.js';
import { ExitCode } from '../primitives/exit-codes.js';
import { handleError, runInScope } from '../primitives/exception-scope.js';
import { installSignalHandlers } from '../lifecycle/signals.js';
import { guardStrayExits } from '../lifecycle/stray-exit.js';
import { coreConfigChecks, coreVariablePrefixes, type CoreConfig } from './core-config.js';
import { buildCore } from './build-core.js';
import { applyGcSettings } from './gc-settings.js';
import type { RunServiceOptions } from './service-context.js';
import { limitStartUp, startUp } from './start-up.js';

/**
 * Runs a service: loads its config and refuses to run as PID 1 (either failure is one line on
 * stderr and exit 78), applies its GC settings, builds the core objects, installs the signal
 * handlers, runs start-up (the app's `setUp`) in the exception scope, and waits for the
 * shutdown to set the exit code. Only this, the exit path and the signal handler end the
 * process; a clean run just sets `process.exitCode` and lets the event loop empty.
 */

/** The commit the build was made from (dist/build-info.json, written by setup.sh), if known. */
function buildCommit(): string | undefined {
  try {
    const file = new URL('../../../build-info.json', import.meta.url);
    const info = JSON.parse(readFileSync(file, 'utf8')) as { commit?: unknown };
    return typeof info.commit === 'string' && info.commit !== 'unknown' ? info.commit : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The environment with APP_VERSION set to the build's commit when neither APP_VERSION nor
 * APP_VERSION_FILE says otherwise (set beside APP_VERSION_FILE, it made that a config error).
 */
function withBuildVersion(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env['APP_VERSION'] !== undefined || (env['APP_VERSION_FILE'] ?? '') !== '') return env;
  return { APP_VERSION: buildCommit(), ...env };
}

/**
 * Says on stderr what the log cannot: a line for a person (`headline`), then a JSON line for a
 * log pipeline, redacted like every other.
 */
function tellStderr(
  level: string,
  msg: string,
  exitCode: number,
  error: unknown,
  headline: string,
) {
  const line = JSON.stringify({
    level,
    time: new Date().toISOString(),
    pid: process.pid,
    thread: 'main',
    msg,
    exitCode,
    err: serializeError(error),
  });
  writeStderr(redactSecrets(`${headline}\n${line}\n`));
}

/** Writes the configuration error (no logger yet). */
function reportConfigError(error: unknown): number {
  const exitCode = isConfigError(error) ? ExitCode.CONFIG_ERROR : ExitCode.APPLICATION_ERROR;
  tellStderr('fatal', 'configuration error', exitCode, error, serializeError(error).message);
  return exitCode;
}

/**
 * The log output is gone (its reader died, its terminal closed, its disk is full): a service
 * nobody can see is stopped as a dependency failure, with one line on stderr (which may still
 * reach someone) saying why; the lines logged after the failure are dropped.
 */
function stopForLostOutput(error: Error, die: (cause: unknown) => void): void {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  const cause = new DependencyError('log output', `stdout cannot be written (${code})`, {
    cause: error,
  });
  const exitCode = ExitCode.DEPENDENCY_FAILURE;
  tellStderr(
    'error',
    'log output lost; stopping',
    exitCode,
    cause,
    `${cause.message}; the service stops`,
  );
  die(cause);
}

/**
 * The log output gone during a requested stop: the stop goes on, and ends as it would have
 * (0 when clean), its remaining lines dropped. One keypress often does both: Ctrl-C on
 * `npm start | pino-pretty` (or `| tee`) ends the reader with the service's INT, and the next
 * line failed the stop with 69 and an error on the terminal.
 */
function noteLostOutput(error: Error): void {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  tellStderr(
    'warn',
    'log output lost during a requested stop; it goes on',
    ExitCode.OK,
    error,
    `log output: stdout cannot be written (${code}) during the stop; its remaining lines are dropped`,
  );
}

/**
 * The kernel ignores a signal sent to a PID namespace's init (PID 1) from inside it unless the
 * process handles it, and SIGKILL cannot be handled: run as PID 1 (`docker run --entrypoint
 * node`, a Kubernetes `command` with no init), the watchdog's and the sentinels' SIGKILL would
 * do nothing, and a stuck main thread would look alive for ever; nor would anything reap the
 * orphans PID 1 inherits. So the service refuses to run there, as a configuration error.
 */
function refusePidOne(): void {
  if (process.pid !== 1) return;
  throw new ConfigError(
    'the service runs as PID 1, where the kernel ignores the SIGKILL that ends a stuck process and ' +
      'nothing reaps orphans: run it under an init (the image entrypoint, which runs supervisord; ' +
      '`docker run --init`; or `tini --` before `node`, tini being in the image)',
  );
}

/** Runs the service until it stops; resolves with the exit code (also set on process). */
export async function runService<S extends z.ZodType<CoreConfig>>(
  options: RunServiceOptions<S>,
): Promise<number> {
  let config: Readonly<z.infer<S>>;
  try {
    config = loadConfig({
      schema: options.schema,
      env: options.env,
      defaultsFile: options.defaultsFile,
      source: withBuildVersion(process.env),
      crossChecks: coreConfigChecks,
    });
    refusePidOne();
  } catch (error) {
    const exitCode = reportConfigError(error);
    process.exitCode = exitCode;
    return exitCode;
  }

  applyGcSettings(config.threads);
  const logSink = await createLogSink(config.log.pretty);
  routeConsole((text) => logSink.writeText(text), writeStderr);
  const core = buildCore(config, logSink);
  const { log, control, coordinator } = core;
  logSink.onFailure((error) => {
    if (coordinator.isShuttingDown && coordinator.cause === undefined) noteLostOutput(error);
    else stopForLostOutput(error, (cause) => control.die(cause));
  });
  const onUncaught = (error: unknown): void => {
    handleError(error, { name: 'main (uncaught)', log, control });
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  // After the core steps: a stop that came while the modules loaded is replayed here.
  installSignalHandlers({
    coordinator,
    log,
    toggleDebug: () => core.levels.toggleDebug(),
    inspectorOnUsr1: config.threads.inspectorOnSigusr1,
    flush: () => core.logSink.flushSync(),
    exit: (code) => core.exits.exit(code),
  });
  // A setting meant but misspelled applies nothing: say so (names only, never a value).
  const names = Object.keys(process.env);
  const known = Object.keys(options.env);
  const suspects = misspelledVariables(names, known);
  for (const suspect of suspects) {
    log.warn(
      suspect,
      'environment variable read by nothing here, close to one that is: not applied',
    );
  }
  const named = new Set(suspects.map((s) => s.variable));
  for (const variable of unreadPrefixedVariables(names, known, coreVariablePrefixes)) {
    if (named.has(variable)) continue;
    log.warn(
      { variable },
      'environment variable named like a flag or policy, read by nothing here: not applied (not declared in the config, or its env map lacks flagEnv/policyEnv)',
    );
  }
  // After the signal handlers, which take over the entry module's own forced exit.
  guardStrayExits({
    isPlanned: () => coordinator.state === 'stopped' || core.exits.isExiting,
    log,
    flush: () => core.logSink.flushSync(),
  });

  // A service runs until it is stopped, even one whose set-up left nothing else alive (from
  // then on the coordinator keeps the process alive until its steps decide).
  const running = setInterval(() => undefined, 2 ** 31 - 1);
  void coordinator.done.finally(() => clearInterval(running));
  const started = limitStartUp(core, config.startup.timeoutMs, () =>
    runInScope(() => startUp(core, options.setUp), { name: 'startup', log, control }),
  );
  coordinator.holdStepsFor(started);
  // A start-up that never settles (past the coordinator's wait for it) does not hold the exit.
  await Promise.race([started, coordinator.done]);
  // The uncaught handlers stay: anything thrown while the loop empties is logged, not fatal.
  const exitCode = await coordinator.done;
  process.exitCode = exitCode;
  // A worker thread the stop could not end (blocked in a system call) would hold the process
  // until the deadline; the exit path ends it now, or kills the process saying why.
  if (core.nanny.openThreads.length > 0) core.exits.exit(exitCode);
  return exitCode;
}
