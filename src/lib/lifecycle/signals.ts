import type { Logger } from '../primitives/log.js';
import {
  isStopEcho,
  takeOverEarlySignals,
  type FirstStop,
  type StopSignal,
} from './early-signals.js';
import { ExitCode } from '../primitives/exit-codes.js';
import { inspectorUrl } from '../primitives/inspector.js';
import type { ShutdownCoordinator } from './shutdown-coordinator.js';

export interface SignalHandlerOptions {
  coordinator: ShutdownCoordinator;
  log: Logger;
  /** HUP: toggle debug logging in every thread. */
  toggleDebug: () => void;
  /** USR1 opens the inspector, as Node's own action does (INSPECTOR_ON_SIGUSR1); else ignored. */
  inspectorOnUsr1: boolean;
  /** Writes what is buffered before a forced exit. */
  flush: () => void;
  /** Ends the process; `process.exit` by default (the service flushes error reports first). */
  exit?: (code: number) => void;
}

/**
 * TERM and INT start the graceful shutdown; the second one forces an immediate exit
 * (128 + signal number), unless it is the first one's echo (the same signal within a second,
 * once: a terminal's Ctrl-C on `npm start` reaches the service twice; `isStopEcho`), which is
 * logged and changes nothing. The first one during a shutdown begun otherwise (a failure, the
 * code's `requestStop()`) is logged and lets it go on. HUP toggles debug logging. USR1 is
 * logged and ignored unless `inspectorOnUsr1`: Node's own action opens the inspector on the
 * loopback, which lets anything that shares it (a sidecar in the pod) run code in the
 * service, and while it is open the main-stall watchdog and the sentinels stand down, so a
 * stray USR1 (a `kill -USR1` meant for another process, a log rotation's) turned them off for
 * the rest of the process's life without a line in the log. USR2 is logged and ignored: its
 * default action ended the process at once (exit 140), no shutdown step run, no line written
 * (nodemon restarts with it; `--signal SIGTERM` makes it stop the service). Takes over from the entry
 * module's early handlers (early-signals.ts) and replays what they saw: a stop that came
 * during start-up starts the shutdown now. Returns a function that removes the handlers; after that a USR1 ends the
 * process (its default action: Node does not restore its own), so the service never calls it.
 */
export function installSignalHandlers(options: SignalHandlerOptions): () => void {
  const { coordinator, log } = options;
  let stops = 0;
  let first: FirstStop | undefined;
  const onStop = (signal: StopSignal, duringLoad = false, at = performance.now()): void => {
    if (first !== undefined && isStopEcho(first, signal, at)) {
      log.info(
        { signal, ...(duringLoad && { duringLoad }) },
        'stop signal again within a second: the same stop',
      );
      return;
    }
    first ??= { signal, at, echoed: false };
    stops++;
    if (!coordinator.isShuttingDown) {
      log.info({ signal, ...(duringLoad && { duringLoad }) }, 'stop requested');
      coordinator.requestStop(signal);
      return;
    }
    if (stops === 1) {
      // A shutdown already under way (a failure's, or the code's own requestStop) goes on: the
      // supervisor's one TERM must not cut its steps short, nor replace its exit code.
      log.info(
        { signal, reason: coordinator.reason, ...(duringLoad && { duringLoad }) },
        'stop requested; the shutdown is already under way',
      );
      return;
    }
    const exitCode = signal === 'SIGTERM' ? ExitCode.FORCED_TERM : ExitCode.FORCED_INT;
    log.warn({ signal, exitCode }, 'second stop signal; forcing exit');
    options.flush();
    (options.exit ?? ((code: number) => process.exit(code)))(exitCode);
  };
  const onTerm = (): void => onStop('SIGTERM');
  const onInt = (): void => onStop('SIGINT');
  const onHup = (): void => options.toggleDebug();
  const onUsr1 = (duringLoad = false): void => {
    const fields = { signal: 'SIGUSR1', ...(duringLoad && { duringLoad }) };
    if (options.inspectorOnUsr1) openInspector(log, fields);
    else
      log.warn(
        fields,
        'SIGUSR1 ignored: the inspector opens on it only with INSPECTOR_ON_SIGUSR1=true',
      );
  };
  const onUsr1Now = (): void => onUsr1();
  const onUsr2 = (duringLoad = false): void => {
    log.warn(
      { signal: 'SIGUSR2', ...(duringLoad && { duringLoad }) },
      'SIGUSR2 ignored: the service stops on TERM or INT',
    );
  };
  const onUsr2Now = (): void => onUsr2();
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  process.on('SIGUSR1', onUsr1Now);
  process.on('SIGUSR2', onUsr2Now);
  const early = takeOverEarlySignals();
  for (let i = 0; i < early.hups; i++) options.toggleDebug();
  for (let i = 0; i < early.usr1s; i++) onUsr1(true);
  for (let i = 0; i < early.usr2s; i++) onUsr2(true);
  if (early.stop !== undefined) {
    // Its echo, if it came during load, was taken there; one still to come is taken here.
    onStop(early.stop.signal, true, early.stop.at);
    if (first !== undefined) first.echoed = early.stop.echoed;
    if (early.stop.echoed) {
      log.info(
        { signal: early.stop.signal, duringLoad: true },
        'stop signal again within a second: the same stop',
      );
    }
  }
  return () => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGHUP', onHup);
    process.off('SIGUSR1', onUsr1Now);
    process.off('SIGUSR2', onUsr2Now);
  };
}

/** What Node's own USR1 action does (its `--inspect-port`, loopback by default), logged. */
function openInspector(log: Logger, fields: Record<string, unknown>): void {
  const open = inspectorUrl();
  if (open !== undefined) {
    log.info({ ...fields, url: open }, 'SIGUSR1: the inspector is already open');
    return;
  }
  try {
    process.getBuiltinModule('node:inspector').open();
  } catch (error) {
    log.warn({ ...fields, err: error }, 'SIGUSR1: the inspector could not open');
    return;
  }
  log.warn(
    { ...fields, url: inspectorUrl() },
    'SIGUSR1: the inspector is open; the main-stall watchdog and the sentinels stand down while it is',
  );
}
