import type { Logger } from '../primitives/log.js';
import { takeOverEarlySignals } from './early-signals.js';
import { ExitCode } from '../primitives/exit-codes.js';
import type { ShutdownCoordinator } from './shutdown-coordinator.js';

export interface SignalHandlerOptions {
  coordinator: ShutdownCoordinator;
  log: Logger;
  /** HUP: toggle debug logging in every thread. */
  toggleDebug: () => void;
  /** Writes what is buffered before a forced exit. */
  flush: () => void;
  /** Ends the process; `process.exit` by default (the service flushes error reports first). */
  exit?: (code: number) => void;
}

/**
 * TERM and INT start the graceful shutdown; the second one forces an immediate exit
 * (128 + signal number). HUP toggles debug logging. Takes over from the entry module's early
 * handlers (early-signals.ts) and replays what they saw: a stop that came during start-up
 * starts the shutdown now. Returns a function that removes the handlers.
 */
export function installSignalHandlers(options: SignalHandlerOptions): () => void {
  const { coordinator, log } = options;
  const onStop = (signal: 'SIGTERM' | 'SIGINT', duringLoad = false): void => {
    if (!coordinator.isShuttingDown) {
      log.info({ signal, ...(duringLoad && { duringLoad }) }, 'stop requested');
      coordinator.requestStop(signal);
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
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  const early = takeOverEarlySignals();
  for (let i = 0; i < early.hups; i++) options.toggleDebug();
  if (early.stop !== undefined) onStop(early.stop, true);
  return () => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGHUP', onHup);
  };
}
