import { setLogLevel, type Logger, type LogLevel } from '../primitives/logger.js';

/**
 * The process's log level: the main thread's logger, and whoever listens (the nanny, which
 * passes it on to every worker thread). HUP toggles debug; the shutdown's escalation turns
 * debug on.
 */
export class LogLevelSwitch {
  readonly #log: Logger;
  readonly #configured: LogLevel;
  readonly #listeners: Array<(level: LogLevel) => void> = [];
  #level: LogLevel;

  constructor(log: Logger, configured: LogLevel) {
    this.#log = log;
    this.#configured = configured;
    this.#level = configured;
  }

  get level(): LogLevel {
    return this.#level;
  }

  /** Calls `listener` with each new level. */
  onChange(listener: (level: LogLevel) => void): void {
    this.#listeners.push(listener);
  }

  set(level: LogLevel): void {
    this.#level = level;
    setLogLevel(this.#log, level);
    for (const listener of this.#listeners) listener(level);
    this.#log.info({ level }, 'log level changed');
  }

  /** Debug on, or back to the configured level (info when debug was configured). */
  toggleDebug(): void {
    if (this.#level !== 'debug') this.set('debug');
    else this.set(this.#configured === 'debug' ? 'info' : this.#configured);
  }
}
