import { Writable } from 'node:stream';
import { Nanny } from '../src/lib/threads/nanny.js';
import { createLogger } from '../src/lib/primitives/log.js';

/** A log destination that drops everything (the bench measures, it does not log). */
export const silentSink = Object.assign(new Writable({ write: (_c, _e, done) => done() }), {
  flushSync: () => undefined,
});

export interface QuietNannyOptions {
  config: unknown;
  signal: AbortSignal;
  die: (cause: unknown) => void;
  heartbeatMs?: number;
}

/** The core's Nanny with a logger that writes nothing, for bench cases run in process. */
export function quietNanny(options: QuietNannyOptions): Nanny {
  const log = createLogger({
    app: 'bench',
    thread: 'main',
    version: '',
    level: 'fatal',
    destination: silentSink,
  });
  return new Nanny({
    log,
    logSink: silentSink,
    logLevel: () => 'fatal',
    config: options.config,
    heartbeatMs: options.heartbeatMs ?? 1000,
    startTimeoutMs: 10_000,
    reportIntervalMs: 60_000,
    signal: options.signal,
    die: options.die,
  });
}
