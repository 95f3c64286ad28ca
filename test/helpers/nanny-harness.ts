import { Nanny, type NannyOptions } from '../../src/lib/threads/nanny.js';
import type { WorkerSpec } from '../../src/lib/threads/worker-host.js';
import type { EchoContract } from '../fixtures/workers/echo.worker.js';
import { CapturingSink, testConfig } from './core.js';
import { createLogger } from '../../src/lib/primitives/log.js';

/**
 * A nanny over real worker threads, with captured logs (in `sink`, a CapturingSink unless
 * given) and recorded die() calls. Start timeout 5 s unless `env` sets WORKER_START_TIMEOUT_MS.
 */
export function nannyHarness(
  env: Record<string, string> = {},
  sink: CapturingSink = new CapturingSink(),
  options: Pick<NannyOptions, 'isStopRequested'> = {},
) {
  // Heartbeats slow enough that a busy machine (two cores, many test files) never starves a
  // healthy worker into a hang verdict; the hang tests set their own.
  const config = testConfig({ HEARTBEAT_MS: '500', ...env });
  const log = createLogger({
    app: 'test',
    thread: 'main',
    version: 'test',
    level: 'info',
    destination: sink,
  });
  const controller = new AbortController();
  const died: Error[] = [];
  let onDie: ((e: Error) => void) | undefined;
  const nanny = new Nanny({
    log,
    logSink: sink,
    logLevel: () => 'info',
    config,
    heartbeatMs: config.threads.heartbeatMs,
    startTimeoutMs: Number(env['WORKER_START_TIMEOUT_MS'] ?? 5_000),
    reportIntervalMs: 60_000,
    signal: controller.signal,
    ...options,
    die: (cause) => {
      died.push(cause as Error);
      controller.abort();
      onDie?.(cause as Error);
    },
  });
  const firstDeath = new Promise<Error>((resolve) => (onDie = resolve));
  return { nanny, sink, died, controller, firstDeath };
}

export const fixture = (name: string): URL =>
  new URL(`../fixtures/workers/${name}.worker.js`, import.meta.url);
export const echo = (name: string, links?: string[]): WorkerSpec => ({
  name,
  module: fixture('echo'),
  ...(links ? { links } : {}),
});

/** Gives echo worker `name` work in hand for `ms`: its stop waits for it (or terminates it). */
export function busyFor(nanny: Nanny, name: string, ms: number): void {
  void nanny
    .channel(name)
    .as<EchoContract>()
    .request({ op: 'slow', ms })
    .catch(() => undefined);
}
