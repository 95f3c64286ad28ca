import type { Logger } from '../log.js';
import { ExitCode } from './exit-codes.js';
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
 * (128 + signal number). HUP toggles debug logging. Returns a function that removes them.
 */
export function installSignalHandlers(options: SignalHandlerOptions): () => void {
  const { coordinator, log } = options;
  const onStop = (signal: 'SIGTERM' | 'SIGINT'): void => {
    if (!coordinator.isShuttingDown) {
      log.info({ signal }, 'stop requested');
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
  return () => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGHUP', onHup);
  };
}
